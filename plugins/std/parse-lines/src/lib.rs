//! The `std:parse-lines` operator component.
flicker_guest::export_parse!(flicker_std_ops::ParseLines);
