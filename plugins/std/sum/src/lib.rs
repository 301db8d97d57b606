//! The `std:sum` operator component.
flicker_guest::export_aggregate!(flicker_std_ops::Sum);
