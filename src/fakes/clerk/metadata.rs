//! Clerk metadata: JSON objects on users and organizations, deep-merged on the metadata
//! endpoints, replaced wholesale on the plain update endpoints. No compare-and-set.

use serde_json::{Map, Value};

/// A metadata object (`public_metadata`, `private_metadata` or `unsafe_metadata`).
pub type ClerkMetadata = Map<String, Value>;

/// Nesting depth past which a patch replaces instead of merging (keeps recursion bounded).
pub const MAX_MERGE_DEPTH: usize = 64;

/// Clerk's documented limit on the size of all of one object's metadata together, in bytes.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// Deep-merges `patch` into `target` as Clerk's `PATCH …/metadata` does: nested objects merge
/// recursively, any other value replaces, and a key set to `null` is removed at any level.
pub fn deep_merge(target: &mut ClerkMetadata, patch: &ClerkMetadata) {
    merge_at(target, patch, 0);
}

fn merge_at(target: &mut ClerkMetadata, patch: &ClerkMetadata, depth: usize) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.shift_remove(key);
            }
            Value::Object(inner) if depth < MAX_MERGE_DEPTH => match target.get_mut(key) {
                Some(Value::Object(existing)) => merge_at(existing, inner, depth + 1),
                _ => {
                    let mut fresh = ClerkMetadata::new();
                    merge_at(&mut fresh, inner, depth + 1);
                    target.insert(key.clone(), Value::Object(fresh));
                }
            },
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// The serialized size of several metadata objects together, in bytes.
pub fn total_size_bytes(parts: &[&ClerkMetadata]) -> usize {
    parts
        .iter()
        .map(|part| serde_json::to_vec(part).map_or(0, |bytes| bytes.len()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(value: Value) -> ClerkMetadata {
        match value {
            Value::Object(map) => map,
            _ => ClerkMetadata::new(),
        }
    }

    #[test]
    fn nested_objects_merge_and_null_removes() {
        let mut target = obj(json!({"a": {"b": 1, "c": 2}, "keep": true, "gone": 1}));
        deep_merge(
            &mut target,
            &obj(json!({"a": {"c": null, "d": 4}, "gone": null, "n": [1]})),
        );
        assert_eq!(
            Value::Object(target),
            json!({"a": {"b": 1, "d": 4}, "keep": true, "n": [1]})
        );
    }

    #[test]
    fn arrays_and_scalars_replace() {
        let mut target = obj(json!({"list": [1, 2], "x": {"y": 1}}));
        deep_merge(&mut target, &obj(json!({"list": [3], "x": 5})));
        assert_eq!(Value::Object(target), json!({"list": [3], "x": 5}));
    }
}
