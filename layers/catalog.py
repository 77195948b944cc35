"""The layers this service knows. Each is a declarative spec; see layers.spec."""

from __future__ import annotations

from layers.spec import Bilingual as B
from layers.spec import Field, LayerSpec, RasterSpec, Style, TileRules

HAZARD_TYPES = ("flood", "landslide", "tsunami", "volcano", "earthquake", "drought", "fire")
HAZARD_CLASSES = ("low", "medium", "high")
FACILITY_TYPES = (
    "shelter",
    "hospital",
    "health_center",
    "school",
    "police",
    "fire_station",
    "government_office",
)
ADMIN_LEVELS = ("province", "regency", "district", "village")

SOURCE = Field(
    "source",
    "text",
    B("Sumber data", "Data source"),
    max_length=200,
)

FLOOD_POINTS = LayerSpec(
    name="flood_points",
    geometry_type="Point",
    title=B("Titik banjir", "Flood points"),
    description=B(
        "Lokasi banjir yang teramati atau dilaporkan, dengan kedalaman air.",
        "Observed or reported flooding, with water depth.",
    ),
    fields=(
        Field("depth_cm", "integer", B("Kedalaman (cm)", "Depth (cm)"), minimum=0, maximum=2000),
        Field("observed_at", "datetime", B("Waktu pengamatan", "Observed at"), required=True),
        SOURCE,
        Field(
            "status",
            "text",
            B("Status", "Status"),
            required=True,
            enum=("reported", "verified", "receded", "rejected"),
        ),
    ),
    style=Style(
        color="#1f78b4",
        radius=5,
        category_field="status",
        category_colors=(
            ("reported", "#a6cee3"),
            ("verified", "#1f78b4"),
            ("receded", "#b2df8a"),
            ("rejected", "#999999"),
        ),
    ),
    min_zoom=8,
    max_zoom=20,
    time_field="observed_at",
)

HAZARD_ZONES = LayerSpec(
    name="hazard_zones",
    geometry_type="MultiPolygon",
    title=B("Kawasan rawan bencana", "Hazard zones"),
    description=B(
        "Kawasan bahaya menurut jenis dan kelas (rendah, sedang, tinggi).",
        "Hazard areas by type and class (low, medium, high).",
    ),
    fields=(
        Field(
            "hazard_type",
            "text",
            B("Jenis bahaya", "Hazard type"),
            required=True,
            enum=HAZARD_TYPES,
        ),
        Field(
            "hazard_class",
            "text",
            B("Kelas bahaya", "Hazard class"),
            required=True,
            enum=HAZARD_CLASSES,
        ),
        SOURCE,
        Field("valid_from", "date", B("Berlaku sejak", "Valid from")),
    ),
    style=Style(
        color="#e31a1c",
        fill_opacity=0.45,
        category_field="hazard_class",
        category_colors=(("low", "#fed976"), ("medium", "#fd8d3c"), ("high", "#bd0026")),
    ),
    min_zoom=5,
    max_zoom=18,
    time_field="valid_from",
    advice=(
        (
            "low",
            B(
                "Bahaya rendah. Tetap waspada dan ikuti informasi resmi dari BPBD.",
                "Low hazard. Stay alert and follow official information from the disaster "
                "agency (BPBD).",
            ),
        ),
        (
            "medium",
            B(
                "Bahaya sedang. Kenali jalur evakuasi dan tempat evakuasi terdekat, dan siapkan "
                "tas siaga bencana.",
                "Medium hazard. Know your evacuation route and nearest shelter, and keep an "
                "emergency bag ready.",
            ),
        ),
        (
            "high",
            B(
                "Bahaya tinggi. Siapkan rencana evakuasi keluarga dan segera mengungsi bila "
                "ada peringatan dari BPBD.",
                "High hazard. Prepare a family evacuation plan and evacuate at once when the "
                "disaster agency (BPBD) warns.",
            ),
        ),
        (
            "flood/high",
            B(
                "Bahaya banjir tinggi. Simpan dokumen dan barang berharga di tempat tinggi, "
                "matikan listrik saat air naik, dan mengungsi bila ada peringatan.",
                "High flood hazard. Keep documents and valuables up high, switch off the "
                "power when water rises, and evacuate when warned.",
            ),
        ),
        (
            "landslide/high",
            B(
                "Bahaya longsor tinggi. Waspadai retakan tanah dan hujan deras lama; "
                "tinggalkan lereng bila tanah bergerak.",
                "High landslide hazard. Watch for cracks in the ground and long heavy rain; "
                "leave the slope when the ground moves.",
            ),
        ),
    ),
)

FACILITIES = LayerSpec(
    name="facilities",
    geometry_type="Point",
    title=B("Fasilitas umum", "Public facilities"),
    description=B(
        "Tempat evakuasi, rumah sakit, puskesmas, sekolah, kantor polisi, pemadam kebakaran "
        "dan kantor pemerintah.",
        "Shelters, hospitals, health centres, schools, police, fire stations and government "
        "offices.",
    ),
    fields=(
        Field("name", "text", B("Nama", "Name"), required=True, max_length=200),
        Field(
            "facility_type",
            "text",
            B("Jenis fasilitas", "Facility type"),
            required=True,
            enum=FACILITY_TYPES,
        ),
        Field(
            "capacity",
            "integer",
            B("Kapasitas (orang)", "Capacity (people)"),
            minimum=0,
            maximum=1_000_000,
        ),
        Field("address", "text", B("Alamat", "Address"), max_length=300),
        Field("is_open", "boolean", B("Buka", "Open")),
        Field("contact", "text", B("Kontak", "Contact"), max_length=100),
        SOURCE,
    ),
    style=Style(
        color="#33a02c",
        radius=6,
        category_field="facility_type",
        category_colors=(
            ("shelter", "#33a02c"),
            ("hospital", "#e31a1c"),
            ("health_center", "#fb9a99"),
            ("school", "#ff7f00"),
            ("police", "#1f78b4"),
            ("fire_station", "#b15928"),
            ("government_office", "#6a3d9a"),
        ),
    ),
    min_zoom=10,
    max_zoom=20,
    # A few thousand facilities: clustered by type at z10-11, every one named from z12.
    tiles=TileRules(detail_zoom=12),
)

ADMIN_AREAS = LayerSpec(
    name="admin_areas",
    geometry_type="MultiPolygon",
    title=B("Wilayah administrasi", "Administrative areas"),
    description=B(
        "Batas provinsi, kabupaten/kota, kecamatan dan desa/kelurahan.",
        "Province, regency/city, district and village boundaries.",
    ),
    fields=(
        Field("code", "text", B("Kode wilayah", "Area code"), required=True, max_length=20),
        Field("name", "text", B("Nama", "Name"), required=True, max_length=200),
        Field("level", "text", B("Tingkat", "Level"), required=True, enum=ADMIN_LEVELS),
        Field("parent_code", "text", B("Kode induk", "Parent code"), max_length=20),
        SOURCE,
    ),
    style=Style(color="#555555", fill_opacity=0.0),
    min_zoom=4,
    max_zoom=18,
)

RIVERS = LayerSpec(
    name="rivers",
    geometry_type="MultiLineString",
    title=B("Sungai", "Rivers"),
    description=B("Alur sungai dan kanal.", "River and canal lines."),
    fields=(
        Field("name", "text", B("Nama", "Name"), max_length=200),
        Field(
            "river_class",
            "text",
            B("Kelas sungai", "River class"),
            enum=("main", "tributary", "canal"),
        ),
        SOURCE,
    ),
    style=Style(color="#4a90d9", fill_opacity=0.0),
    min_zoom=6,
    max_zoom=18,
)

LAYER_SPECS: tuple[LayerSpec, ...] = (ADMIN_AREAS, HAZARD_ZONES, RIVERS, FACILITIES, FLOOD_POINTS)

RASTER_SPECS: tuple[RasterSpec, ...] = (
    RasterSpec(
        name="population",
        kind="population",
        title=B("Sebaran penduduk", "Population distribution"),
        unit="people per cell",
        aggregation="sum",
    ),
    RasterSpec(
        name="flood_depth",
        kind="flood_depth",
        title=B("Kedalaman genangan", "Flood depth"),
        unit="m",
        aggregation="mean",
    ),
)
