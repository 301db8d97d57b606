//! The `std:top-k` operator component.
flicker_guest::export_aggregate!(flicker_std_ops::TopK);
