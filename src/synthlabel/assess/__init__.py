"""Assessment and drills: conformance checks, attack drills, model safety evaluation, reports."""
