//! The `std:key-by` operator component.
flicker_guest::export_map!(flicker_std_ops::KeyBy);
