//! The `std:format-csv` operator component.
flicker_guest::export_format!(flicker_std_ops::FormatCsv);
