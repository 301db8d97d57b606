//! The `std:filter` operator component.
flicker_guest::export_map!(flicker_std_ops::Filter);
