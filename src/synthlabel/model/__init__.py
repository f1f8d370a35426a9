"""Pure data: the GB 45438 AIGC record, provider codes, produce IDs and signing. No file I/O."""
