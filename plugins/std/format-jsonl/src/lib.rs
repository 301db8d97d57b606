//! The `std:format-jsonl` operator component.
flicker_guest::export_format!(flicker_std_ops::FormatJsonl);
