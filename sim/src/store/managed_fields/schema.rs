//! What structured-merge-diff needs to know of a field to track who owns it: whether
//! a map's keys are declared fields or free keys, whether a map or list is atomic, and
//! how a list's items are identified. Built-in kinds answer from field names (the
//! merge keys and `listType`s of the Kubernetes types); custom resources from their
//! CRD's `openAPIV3Schema` (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`).

use serde_json::Value;

use crate::api::patch::strategic::{list_merge, ListMerge};

/// How a list's items are told apart.
#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    /// The whole list is one value.
    Atomic,
    /// Primitive items, each owned on its own (`v:`).
    Set,
    /// Items identified by these fields (`k:`), with the default of a key left out.
    Map(Vec<(String, Option<Value>)>),
}

/// The schema of one node.
#[derive(Debug, Clone)]
pub enum Schema<'a> {
    /// A field of a built-in kind: its name, and the list field it sits in (which
    /// decides e.g. whether `ports` are a container's or a Service's).
    Builtin {
        kind: &'a str,
        field: &'a str,
        parent_list: Option<&'a str>,
    },
    /// The root of a custom resource: its schema (if its CRD has one), but `metadata`
    /// is always an ObjectMeta.
    Custom(Option<&'a Value>),
    /// A node of a CRD's `openAPIV3Schema`.
    OpenApi(&'a Value),
    /// No schema: maps are granular, lists atomic (structured-merge-diff's deduced type).
    Deduced,
}

/// Fields of built-in kinds whose values are maps with free keys (`map[string]...`).
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "matchLabels",
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
];

impl<'a> Schema<'a> {
    /// The schema of a built-in kind's object.
    pub fn builtin(kind: &'a str) -> Schema<'a> {
        Schema::Builtin {
            kind,
            field: "",
            parent_list: None,
        }
    }

    /// The schema of child `name` of this map, and whether `name` is a declared field
    /// (a free key of a map is owned itself, even when it has children).
    pub fn field(&self, name: &'a str) -> (Schema<'a>, bool) {
        match self {
            Schema::Builtin {
                kind,
                field,
                parent_list,
            } => {
                let free_key = MAP_FIELDS.contains(field)
                    || (*field == "selector" && *kind == "Service" && parent_list.is_none());
                let child = if free_key {
                    Schema::Deduced
                } else {
                    Schema::Builtin {
                        kind,
                        field: name,
                        parent_list: *parent_list,
                    }
                };
                (child, !free_key)
            }
            Schema::Custom(_) if name == "metadata" => (Schema::metadata(), true),
            Schema::Custom(Some(s)) => Schema::OpenApi(s).field(name),
            Schema::Custom(None) => (Schema::Deduced, false),
            Schema::OpenApi(s) => {
                if let Some(p) = s["properties"].get(name) {
                    return (Schema::OpenApi(p), true);
                }
                match &s["additionalProperties"] {
                    Value::Object(_) => (Schema::OpenApi(&s["additionalProperties"]), false),
                    _ => (Schema::Deduced, false),
                }
            }
            Schema::Deduced => (Schema::Deduced, false),
        }
    }

    fn metadata() -> Schema<'static> {
        Schema::Builtin {
            kind: "",
            field: "metadata",
            parent_list: None,
        }
    }

    /// The schema of a list's items.
    pub fn items(&self) -> Schema<'a> {
        match self {
            Schema::Builtin { kind, field, .. } => Schema::Builtin {
                kind,
                field: "",
                parent_list: Some(field),
            },
            Schema::OpenApi(s) => Schema::OpenApi(&s["items"]),
            Schema::Custom(_) | Schema::Deduced => Schema::Deduced,
        }
    }

    /// A map the schema says is replaced as a whole.
    pub fn atomic_map(&self) -> bool {
        match self {
            // LabelSelectors are `structType=atomic`; a Service's selector is a plain map; a
            // ControllerRevision's `data` is a RawExtension, one value.
            Schema::Builtin {
                kind,
                field,
                parent_list,
            } => {
                matches!(
                    *field,
                    "labelSelector" | "namespaceSelector" | "podSelector"
                ) || (*field == "selector" && !(*kind == "Service" && parent_list.is_none()))
                    || (*field == "data" && *kind == "ControllerRevision" && parent_list.is_none())
            }
            Schema::OpenApi(s) => s["x-kubernetes-map-type"] == "atomic",
            Schema::Custom(_) | Schema::Deduced => false,
        }
    }

    pub fn list_type(&self) -> ListType {
        match self {
            Schema::Builtin {
                field, parent_list, ..
            } => match list_merge(*parent_list, field) {
                ListMerge::Set => ListType::Set,
                ListMerge::Replace => ListType::Atomic,
                // Ports are told apart by number and protocol (TCP when left out).
                ListMerge::Key(k @ ("containerPort" | "port")) => ListType::Map(vec![
                    (k.to_string(), None),
                    ("protocol".to_string(), Some(Value::from("TCP"))),
                ]),
                ListMerge::Key("topologyKey") => ListType::Map(vec![
                    ("topologyKey".to_string(), None),
                    ("whenUnsatisfiable".to_string(), None),
                ]),
                ListMerge::Key(k) => ListType::Map(vec![(k.to_string(), None)]),
            },
            Schema::OpenApi(s) => match s["x-kubernetes-list-type"].as_str() {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(
                    s["x-kubernetes-list-map-keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|k| (k.to_string(), None))
                        .collect(),
                ),
                _ => ListType::Atomic,
            },
            Schema::Custom(_) | Schema::Deduced => ListType::Atomic,
        }
    }
}
