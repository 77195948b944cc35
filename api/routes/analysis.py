"""Spatial questions (analysis)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
