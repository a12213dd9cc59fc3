"""Django on the shared benchmark data set: BENCH_DATABASE_URL (default the `tutorscore_bench`
database of bench/README.md), with DEBUG settings. Call set_up_django() before any Django import."""

import os
import sys
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tutorscore_bench"


def set_up_django():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutorscore.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)

    import django

    django.setup()
