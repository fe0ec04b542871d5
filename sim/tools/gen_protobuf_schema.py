#!/usr/bin/env python3
# Generates sim/src/api/protobuf/schema.rs: protobuf field tables for the kinds
# kubectl's typed clients send as protobuf. Needs the k8s-pb 0.9 and
# k8s-openapi 0.29 sources in ~/.cargo/registry (`cargo fetch` in any crate that
# depends on them). Usage, from sim/:
#   python3 tools/gen_protobuf_schema.py api::core::v1::Namespace api::core::v1::ConfigMap \
#     api::core::v1::Secret api::core::v1::ServiceAccount api::core::v1::Service \
#     api::apps::v1::Deployment api::batch::v1::Job \
#     api::authorization::v1::SelfSubjectAccessReview api::core::v1::Pod \
#     api::rbac::v1::Role api::rbac::v1::ClusterRole api::rbac::v1::RoleBinding \
#     api::rbac::v1::ClusterRoleBinding > src/api/protobuf/schema.rs
# (the rbac tables were added by hand from k8s.io/api/rbac/v1/generated.proto, in this
# script's output format; regenerate with the line above when k8s-pb is at hand)
import re, glob, os, sys
PB = glob.glob(os.path.expanduser('~/.cargo/registry/src/*/k8s-pb-0.9.0/src'))[0]
OA = glob.glob(os.path.expanduser('~/.cargo/registry/src/*/k8s-openapi-0.29.0/src/v1_33'))[0]

# JSON names known to k8s-openapi, keyed by lowercase.
json_names = {}
for f in glob.glob(OA + '/**/*.rs', recursive=True):
    for m in re.finditer(r'"([A-Za-z0-9$]+)" => Field::Key_', open(f).read()):
        json_names.setdefault(m.group(1).lower(), m.group(1))

def json_name(snake):
    key = snake.rstrip('_').replace('_', '').lower()
    return json_names.get(key)

structs = {}  # full path -> list of (tag, kind, name, target)
def modpath(f):
    rel = os.path.relpath(f, PB)[:-len('/mod.rs')]
    return rel.replace('/', '::')
for f in glob.glob(PB + '/**/mod.rs', recursive=True):
    mp = modpath(f)
    src = open(f).read()
    for sm in re.finditer(r'pub struct (\w+) \{(.*?)\n\}', src, re.S):
        name, body = sm.group(1), sm.group(2) + '\n'
        fields = []
        for fm in re.finditer(r'#\[prost\(([^\]]*?)tag = "(\d+)"\)\]\s*pub (?:r#)?(\w+):\s*([^,]*?(?:<[^;]*?>)?[^,]*?),\n', body, re.S):
            attrs, tag, fname, ty = fm.group(1), int(fm.group(2)), fm.group(3), fm.group(4)
            fields.append((tag, attrs.strip().rstrip(','), fname, ' '.join(ty.split())))
        structs[mp + '::' + name] = fields

def resolve(cur_mod, ty):
    # find the message type name in a Rust type expression and resolve relative path
    ty = ty.replace('::core::option::Option<', '').replace('::prost::alloc::vec::Vec<', '').replace('>', '').strip()
    parts = ty.split('::')
    base = cur_mod.split('::')
    while parts and parts[0] == 'super':
        parts.pop(0); base.pop()
    return '::'.join(base + parts)

SPECIAL = {
 'apimachinery::pkg::apis::meta::v1::Time': 'Time',
 'apimachinery::pkg::apis::meta::v1::MicroTime': 'Time',
 'apimachinery::pkg::api::resource::Quantity': 'Quantity',
 'apimachinery::pkg::util::intstr::IntOrString': 'IntOrString',
 'apimachinery::pkg::apis::meta::v1::Duration': 'Skip',
 'apimachinery::pkg::apis::meta::v1::FieldsV1': 'Skip',
 'apimachinery::pkg::runtime::RawExtension': 'Skip',
 'apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry': 'Skip',
}
roots = sys.argv[1:]
order, seen = [], set()
def visit(path):
    if path in seen or path in SPECIAL: return
    seen.add(path)
    if path not in structs: raise SystemExit('missing ' + path)
    mod = path.rsplit('::', 1)[0]
    for tag, attrs, fname, ty in structs[path]:
        if json_name(fname) is None and (not attrs.startswith('message') or 'repeated' in attrs):
            continue  # a field k8s-openapi v1_33 does not know; it is skipped below too
        if attrs.startswith('message'):
            visit(resolve(mod, ty))
        elif 'btree_map' in attrs and 'message' in attrs:
            sys.stderr.write('map of messages (as Quantity): ' + path + '.' + fname + '\n')
    order.append(path)
for r in roots: visit(r)

def ident(path):
    return 'S_' + '_'.join(p.upper() for p in path.split('::')[-3:])

out = []
for path in order:
    mod = path.rsplit('::', 1)[0]
    rows = []
    for tag, attrs, fname, ty in structs[path]:
        jn = json_name(fname)
        if jn is None and attrs.startswith('message') and 'repeated' not in attrs:
            t = resolve(mod, ty)
            rows.append(f'    F({tag}, "", K::Inline({ident(t)}), false),')
            continue
        if jn is None:
            sys.stderr.write(f'no json name for {path}.{fname}\n'); continue
        rep = 'repeated' in attrs
        if attrs.startswith('message'):
            t = resolve(mod, ty)
            sp = SPECIAL.get(t)
            if sp == 'Skip': continue
            k = f'K::{sp}' if sp else f'K::Msg({ident(t)})'
        elif attrs.startswith('btree_map'):
            k = 'K::MapQuantity' if 'message' in attrs else ('K::MapBytes' if 'bytes' in attrs else 'K::MapStr')
        elif attrs.startswith('string'): k = 'K::Str'
        elif attrs.startswith('bytes'): k = 'K::Bytes'
        elif attrs.startswith('bool'): k = 'K::Bool'
        elif attrs.startswith('int32') or attrs.startswith('int64'): k = 'K::Int'
        elif attrs.startswith('double'): k = 'K::Double'
        else:
            sys.stderr.write(f'kind {attrs} in {path}.{fname}\n'); continue
        rows.append(f'    F({tag}, "{jn}", {k}, {"true" if rep else "false"}),')
    out.append(f'static {ident(path)}: &[F] = &[\n' + '\n'.join(rows) + '\n];')
HEADER = '''//! Protobuf field tables for the kinds kubectl's typed clients send as
//! `application/vnd.kubernetes.protobuf`. GENERATED by `sim/tools/gen_protobuf_schema.py`
//! from the field tags in the `k8s-pb` crate (0.9) and the JSON names in
//! `k8s-openapi` (v1_33); do not edit by hand.

use super::{Field as F, Kind as K};

'''
lookup = ['/// The table for a top-level kind, by `apiVersion` and `kind`.',
          'pub fn schema_for(api_version: &str, kind: &str) -> Option<&\'static [F]> {',
          '    match (api_version, kind) {']
for r in roots:
    parts = r.split('::')
    group, version, kind = parts[1], parts[2], parts[3]
    av = version if group == 'core' else f'{group}.k8s.io/{version}' if group == 'authorization' else f'{group}/{version}'
    lookup.append(f'        ("{av}", "{kind}") => Some({ident(r)}),')
lookup += ['        _ => None,', '    }', '}', '']
print(HEADER + '\n'.join(lookup) + '\n'.join(out))
