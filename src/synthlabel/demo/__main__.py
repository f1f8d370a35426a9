"""``python -m synthlabel.demo [OUT_DIR]`` (what ``make demo`` runs)."""

from synthlabel.demo import main

raise SystemExit(main())
