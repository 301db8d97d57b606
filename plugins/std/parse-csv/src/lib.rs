//! The `std:parse-csv` operator component.
flicker_guest::export_parse!(flicker_std_ops::ParseCsv);
