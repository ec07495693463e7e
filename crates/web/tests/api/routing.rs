//! Placeholder: filled by the routing work.
