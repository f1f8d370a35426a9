"""Pipeline: file-level label / inspect / verify over the library layers."""
