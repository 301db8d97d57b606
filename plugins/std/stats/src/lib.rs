//! The `std:stats` operator component.
flicker_guest::export_aggregate!(flicker_std_ops::Stats);
