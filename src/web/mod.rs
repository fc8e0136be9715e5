//! The web pages (DESIGN 7.6): server-rendered HTML, usable without JavaScript.

pub mod picture;
