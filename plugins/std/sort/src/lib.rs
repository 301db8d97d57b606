//! The `std:sort` operator component.
flicker_guest::export_map!(flicker_std_ops::Sort);
