"""Engine settings: the app's one typed settings object, ``server.config.Settings`` (built from the
environment, or from an app's config by the caller; the engine never reads Flask)."""

from __future__ import annotations

from ..config import Settings

EngineSettings = Settings

__all__ = ["EngineSettings"]
