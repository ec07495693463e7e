//! Placeholder: filled by the ui_routing work.
