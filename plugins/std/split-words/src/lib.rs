//! The `std:split-words` operator component.
flicker_guest::export_map!(flicker_std_ops::SplitWords);
