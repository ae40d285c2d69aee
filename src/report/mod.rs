//! Reports a person reads: the trace as text and as a Mermaid sequence diagram.

pub mod mermaid;
