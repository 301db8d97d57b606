//! The `std:join` operator component.
flicker_guest::export_cogroup!(flicker_std_ops::Join);
