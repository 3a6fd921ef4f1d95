"""Re-verification pages: file a 复核表 from a case, follow a recheck, run batches (PS-8, PS-9)."""
