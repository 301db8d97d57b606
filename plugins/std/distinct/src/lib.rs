//! The `std:distinct` operator component.
flicker_guest::export_aggregate!(flicker_std_ops::Distinct);
