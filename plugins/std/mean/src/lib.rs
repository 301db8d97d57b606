//! The `std:mean` operator component.
flicker_guest::export_aggregate!(flicker_std_ops::Mean);
