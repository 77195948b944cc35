"""`gis analyze ...`: the planner's questions (exposure per hazard class and area) on the
terminal. The numbers are the API's (same gis.analysis functions and renderers); an error
is one readable bilingual line and a non-zero exit (2 for bad input), like the rest of
`gis`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import typer
from rich.table import Table

from gis.analysis import exposure as ex
from gis.cli_common import DataDirOption, console, guard, open_store_for, out
from layers.catalog import ADMIN_LEVELS, FACILITY_TYPES, HAZARD_TYPES

analyze_app = typer.Typer(
    help="Spatial analysis: exposure of facilities and population.", no_args_is_help=True
)


@analyze_app.command("exposure")
def exposure_command(
    hazard_type: Annotated[
        str, typer.Option("--hazard-type", help=f"Hazard type: {', '.join(HAZARD_TYPES)}.")
    ],
    admin_level: Annotated[
        str | None,
        typer.Option(
            "--admin-level",
            help=f"Areas of this level: {', '.join(ADMIN_LEVELS)} (default: district, or the "
            "level of --area-code).",
        ),
    ] = None,
    area_code: Annotated[
        str | None, typer.Option("--area-code", help="Only areas at or under this area code.")
    ] = None,
    fmt: Annotated[
        Literal["table", "csv", "json"], typer.Option("--format", help="Output format.")
    ] = "table",
    data_dir: DataDirOption = None,
) -> None:
    """Facilities by type, shelter capacity and population per area and hazard class.
    Keterpaparan fasilitas dan penduduk per wilayah dan kelas bahaya."""

    def body() -> None:
        store = open_store_for(data_dir)
        try:
            with console.status("analysing / menganalisis ...") as status:
                result = ex.exposure(
                    store,
                    hazard_type,
                    admin_level,
                    area_code,
                    progress=lambda step: status.update(f"analysing / menganalisis: {step}"),
                )
        finally:
            store.close()
        if fmt == "json":
            sys.stdout.write(json.dumps(ex.to_json(result), ensure_ascii=False) + "\n")
        elif fmt == "csv":
            sys.stdout.write(ex.to_csv(result))
        else:
            out.print(_table(result))

    guard(body)


_SHORT = {
    "shelter": "shelter",
    "hospital": "hosp.",
    "health_center": "health",
    "school": "school",
    "police": "police",
    "fire_station": "fire",
    "government_office": "gov.",
}


def _table(result: ex.Exposure) -> Table:
    table = Table(
        title=f"Exposure / keterpaparan: {result.hazard_type}, {result.admin_level}"
        + (f" under {result.area_code}" if result.area_code else ""),
        caption=ex.RULES["en"],
    )
    table.add_column("area / wilayah")
    table.add_column("class / kelas")
    table.add_column("facilities / fasilitas", justify="right")
    for ftype in FACILITY_TYPES:
        table.add_column(_SHORT[ftype], justify="right")
    table.add_column("shelter cap. / kapasitas", justify="right")
    table.add_column("population / penduduk", justify="right")
    for area in result.areas:
        for i, c in enumerate(area.classes):
            table.add_row(
                f"{area.code} {area.name}" if i == 0 else "",
                c.hazard_class,
                f"{c.facilities_total:,}",
                *(f"{c.facilities[t]:,}" for t in FACILITY_TYPES),
                f"{c.shelter_capacity:,}",
                "-" if c.population is None else f"{c.population:,.0f}",
                end_section=i == len(area.classes) - 1,
            )
    return table
