"""The plate reader's settings, as a pydantic model a site or worker file can embed.

Example:
    >>> cfg = PlateReaderConfig(recognizers=["clp-rec"], valid_confidence=0.8)
    >>> reader = PlateReader.from_config(cfg)                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RecognizerName = Literal["clp-rec", "ppocr-rec", "hyperlpr-rec"]


def _all_recognizers() -> list[RecognizerName]:
    return ["clp-rec", "ppocr-rec", "hyperlpr-rec"]


class PlateReaderConfig(BaseModel):
    """How plates are detected and read (defaults are the measured configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recognizers: list[RecognizerName] = Field(
        default_factory=_all_recognizers,
        min_length=1,
        description="CTC recognisers to fuse; one is faster, three are more accurate",
    )
    detector_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="minimum clp-det plate score"
    )
    min_confidence: float = Field(
        default=0.35, ge=0, le=1, description="readings below this are not plates (dropped)"
    )
    valid_confidence: float = Field(
        default=0.75, ge=0, le=1, description="readings below this have is_valid=false"
    )
    vehicle_classes: list[int] = Field(
        default_factory=lambda: [2, 3, 5, 7],
        description="Detections.class_id values searched for plates (COCO car, motorcycle, "
        "bus, truck)",
    )
    max_side: int = Field(
        default=1280, ge=160, le=8192, description="longest side detection runs at (px)"
    )
    ssd_fallback: bool = Field(
        default=True, description="try HyperLPR's SSD where clp-det finds no plate"
    )

    @model_validator(mode="after")
    def _order(self) -> PlateReaderConfig:
        if self.min_confidence > self.valid_confidence:
            raise ValueError(
                f"min_confidence ({self.min_confidence}) must not exceed valid_confidence "
                f"({self.valid_confidence})"
            )
        if len(set(self.recognizers)) != len(self.recognizers):
            raise ValueError(f"recognizers: each name once, got {self.recognizers}")
        return self
