//! The SCIM schemas signoff serves, as data: core User and Group (RFC 7643 §4), the enterprise User extension
//! (RFC 7643 §4.3) and signoff's own User extension.
//!
//! Validation ([`super::resource::normalize`]), rendering (`returned`), filters (`caseExact`) and PATCH
//! (`mutability`) all read these tables, and `/Schemas` is generated from them, so what the server does and
//! what it advertises cannot drift apart.

use serde_json::{Map, Value, json};

use super::filter::AttrPath;
use super::resource::Kind;

/// The core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema (RFC 7643 §4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension (RFC 7643 §4.3): manager, department, employee number.
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// signoff's User extension: the directory attributes of DESIGN section 2 that no standard schema carries.
pub const SIGNOFF_USER_SCHEMA: &str = "urn:signoff:params:scim:schemas:extension:2.0:User";
/// The PATCH request message schema (RFC 7644 §3.5.2).
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The list response message schema (RFC 7644 §3.4.2).
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The service provider configuration schema (RFC 7643 §5).
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The resource type schema (RFC 7643 §6).
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The schema of schema definitions (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The most resources one list response returns (`filter.maxResults` in `/ServiceProviderConfig`): Okta and
/// Entra page with `count` of 100 at most, and a cap keeps one request from reading the whole table.
pub const MAX_RESULTS: usize = 200;

/// An attribute's data type (RFC 7643 §2.3): what values validation accepts and how filters compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// A JSON string.
    String,
    /// `true` or `false` (the strings `"True"`/`"False"` are accepted on input, as Entra sends them).
    Boolean,
    /// A JSON number with a fractional part allowed.
    Decimal,
    /// A JSON number without a fractional part.
    Integer,
    /// An `xsd:dateTime` string (RFC 3339 with an offset).
    DateTime,
    /// Base64 text.
    Binary,
    /// A URI string.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

impl AttrType {
    /// The spelling used in schema representations.
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// Who may change an attribute (RFC 7643 §2.2): PATCH and PUT refuse changes the schema forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only (`id`, `meta`, `groups`); a client's value is ignored or refused.
    ReadOnly,
    /// Freely changed by the client.
    ReadWrite,
    /// Set once by the client, never changed afterwards.
    Immutable,
    /// Accepted from the client but never returned (`password`).
    WriteOnly,
}

impl Mutability {
    /// The spelling used in schema representations.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute appears in responses (RFC 7643 §2.2), read by rendering together with the
/// `attributes`/`excludedAttributes` query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// In every response, whatever the client asked for (`id`).
    Always,
    /// Never in a response (`password`).
    Never,
    /// Unless excluded.
    Default,
    /// Only when named in `attributes`.
    Request,
}

impl Returned {
    /// The spelling used in schema representations.
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// How unique an attribute's value is (RFC 7643 §2.2); the storage layer enforces `Server` ones (`userName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No constraint.
    None,
    /// Unique among this server's resources of the same type.
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// The spelling used in schema representations.
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7), with its sub-attributes when it is complex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrDef {
    /// The canonical attribute name; incoming names are matched case-insensitively and rewritten to this.
    pub name: &'static str,
    /// The data type.
    pub ty: AttrType,
    /// Whether the value is a JSON array of values.
    pub multi_valued: bool,
    /// Whether a resource must carry it.
    pub required: bool,
    /// Whether string comparison (filters, uniqueness) respects case.
    pub case_exact: bool,
    /// Who may change it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// How unique its value is.
    pub uniqueness: Uniqueness,
    /// The description shown in `/Schemas`.
    pub description: &'static str,
    /// Suggested values (`work`, `home`...), advertised only: RFC 7643 lets clients send others.
    pub canonical_values: &'static [&'static str],
    /// For references: what they point to (`User`, `Group`, `external`, `uri`).
    pub reference_types: &'static [&'static str],
    /// For complex attributes: the sub-attributes.
    pub sub_attributes: &'static [AttrDef],
}

impl AttrDef {
    /// A single-valued, optional, case-insensitive, readWrite attribute returned by default: the RFC's
    /// defaults (§2.2), changed by the builder methods below.
    pub const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        AttrDef {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            description,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
        }
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    const fn subs(mut self, subs: &'static [AttrDef]) -> Self {
        self.sub_attributes = subs;
        self
    }

    /// The sub-attribute named `name` (case-insensitive), if this attribute is complex and has it.
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The attribute's representation in `/Schemas` (RFC 7643 §7).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        o.insert("type".into(), json!(self.ty.as_str()));
        o.insert("multiValued".into(), json!(self.multi_valued));
        o.insert("description".into(), json!(self.description));
        o.insert("required".into(), json!(self.required));
        if matches!(self.ty, AttrType::String | AttrType::Reference | AttrType::Binary) {
            o.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            o.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            o.insert("referenceTypes".into(), json!(self.reference_types));
        }
        o.insert("mutability".into(), json!(self.mutability.as_str()));
        o.insert("returned".into(), json!(self.returned.as_str()));
        if self.ty != AttrType::Complex {
            o.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if !self.sub_attributes.is_empty() {
            o.insert("subAttributes".into(), Value::Array(self.sub_attributes.iter().map(AttrDef::to_json).collect()));
        }
        Value::Object(o)
    }
}

/// One schema: its URN, name and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaDef {
    /// The schema URN, also the key under which an extension's attributes sit in a resource.
    pub id: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// The top-level attributes.
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    /// The top-level attribute named `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The schema's representation in `/Schemas`, with `meta.location` under `base_url` when one is given.
    pub fn to_json(&self, base_url: Option<&str>) -> Value {
        let mut meta = json!({"resourceType": "Schema"});
        if let (Some(base), Some(m)) = (base_url, meta.as_object_mut()) {
            m.insert("location".into(), json!(format!("{}/Schemas/{}", base.trim_end_matches('/'), self.id)));
        }
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttrDef::to_json).collect::<Vec<_>>(),
            "meta": meta,
        })
    }
}

use AttrType as T;
use Mutability as M;
use Returned as R;

/// `value`, `display`, `type`, `primary`: the sub-attributes shared by the multi-valued attributes of
/// RFC 7643 §2.4, with the given `value` type and canonical `type` values.
macro_rules! multi_subs {
    ($value:expr, $types:expr) => {
        &[
            $value,
            AttrDef::new("display", T::String, "A human-readable name, primarily used for display purposes."),
            AttrDef::new("type", T::String, "A label indicating the attribute's function.").canonical($types),
            AttrDef::new("primary", T::Boolean, "Whether this is the preferred value; true at most once."),
        ]
    };
}

/// Attributes every resource has besides its schemas' (RFC 7643 §3.1): `id`, `externalId`, `meta`.
pub const COMMON_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::new("id", T::String, "Unique identifier for the resource, assigned by the service provider.")
        .case_exact()
        .mutability(M::ReadOnly)
        .returned(R::Always)
        .unique(Uniqueness::Server),
    AttrDef::new("externalId", T::String, "The resource's identifier in the provisioning client.").case_exact(),
    AttrDef::new("meta", T::Complex, "Resource metadata.").mutability(M::ReadOnly).subs(&[
        AttrDef::new("resourceType", T::String, "The name of the resource type.").case_exact().mutability(M::ReadOnly),
        AttrDef::new("created", T::DateTime, "When the resource was added.").mutability(M::ReadOnly),
        AttrDef::new("lastModified", T::DateTime, "When the resource was last changed.").mutability(M::ReadOnly),
        AttrDef::new("location", T::Reference, "The URI of the resource.").case_exact().mutability(M::ReadOnly),
        AttrDef::new("version", T::String, "The version (ETag) of the resource.").case_exact().mutability(M::ReadOnly),
    ]),
];

const USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::new("userName", T::String, "Unique identifier for the User; signoff's user id.")
        .required()
        .unique(Uniqueness::Server),
    AttrDef::new("name", T::Complex, "The components of the user's real name.").subs(&[
        AttrDef::new("formatted", T::String, "The full name, formatted for display."),
        AttrDef::new("familyName", T::String, "The family name."),
        AttrDef::new("givenName", T::String, "The given name."),
        AttrDef::new("middleName", T::String, "The middle name(s)."),
        AttrDef::new("honorificPrefix", T::String, "The honorific prefix(es), e.g. 'Ms.'."),
        AttrDef::new("honorificSuffix", T::String, "The honorific suffix(es), e.g. 'III'."),
    ]),
    AttrDef::new("displayName", T::String, "The name of the User, suitable for display to end-users."),
    AttrDef::new("nickName", T::String, "The casual way to address the user."),
    AttrDef::new("profileUrl", T::Reference, "A URI of the user's online profile.").refs(&["external"]),
    AttrDef::new("title", T::String, "The user's title, such as 'Vice President'."),
    AttrDef::new("userType", T::String, "The relationship between the organization and the user."),
    AttrDef::new("preferredLanguage", T::String, "The user's preferred written or spoken language."),
    AttrDef::new("locale", T::String, "The user's default location for localization."),
    AttrDef::new("timezone", T::String, "The user's time zone in IANA format."),
    AttrDef::new("active", T::Boolean, "The user's administrative status; inactive users are never asked to approve."),
    AttrDef::new("password", T::String, "The user's cleartext password; signoff accepts and discards it.")
        .mutability(M::WriteOnly)
        .returned(R::Never),
    AttrDef::new("emails", T::Complex, "Email addresses for the user; the primary (else first) is the email.")
        .multi()
        .subs(multi_subs!(AttrDef::new("value", T::String, "Email address."), &["work", "home", "other"])),
    AttrDef::new("phoneNumbers", T::Complex, "Phone numbers for the user.").multi().subs(multi_subs!(
        AttrDef::new("value", T::String, "Phone number."),
        &["work", "home", "mobile", "fax", "pager", "other"]
    )),
    AttrDef::new("ims", T::Complex, "Instant messaging addresses for the user.").multi().subs(multi_subs!(
        AttrDef::new("value", T::String, "Instant messaging address."),
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
    )),
    AttrDef::new("photos", T::Complex, "URLs of images of the user.").multi().subs(multi_subs!(
        AttrDef::new("value", T::Reference, "URL of a photo of the user.").refs(&["external"]),
        &["photo", "thumbnail"]
    )),
    AttrDef::new("addresses", T::Complex, "Physical mailing addresses for this user.").multi().subs(&[
        AttrDef::new("formatted", T::String, "The full mailing address, formatted for display."),
        AttrDef::new("streetAddress", T::String, "The full street address component."),
        AttrDef::new("locality", T::String, "The city or locality component."),
        AttrDef::new("region", T::String, "The state or region component."),
        AttrDef::new("postalCode", T::String, "The zip code or postal code component."),
        AttrDef::new("country", T::String, "The country name component (ISO 3166-1 alpha-2)."),
        AttrDef::new("type", T::String, "A label indicating the attribute's function.")
            .canonical(&["work", "home", "other"]),
        AttrDef::new("primary", T::Boolean, "Whether this is the preferred mailing address; true at most once."),
    ]),
    AttrDef::new("groups", T::Complex, "The groups the user belongs to, maintained by the server.")
        .multi()
        .mutability(M::ReadOnly)
        .subs(&[
            AttrDef::new("value", T::String, "The identifier of the group.").mutability(M::ReadOnly),
            AttrDef::new("$ref", T::Reference, "The URI of the group.")
                .refs(&["User", "Group"])
                .mutability(M::ReadOnly),
            AttrDef::new("display", T::String, "The group's display name.").mutability(M::ReadOnly),
            AttrDef::new("type", T::String, "How the membership was derived.")
                .canonical(&["direct", "indirect"])
                .mutability(M::ReadOnly),
        ]),
    AttrDef::new("entitlements", T::Complex, "Entitlements for the user.")
        .multi()
        .subs(multi_subs!(AttrDef::new("value", T::String, "The value of an entitlement."), &[])),
    AttrDef::new("roles", T::Complex, "Roles for the user.")
        .multi()
        .subs(multi_subs!(AttrDef::new("value", T::String, "The value of a role."), &[])),
    AttrDef::new("x509Certificates", T::Complex, "DER-encoded X.509 certificates issued to the user.")
        .multi()
        .subs(multi_subs!(AttrDef::new("value", T::Binary, "The value of an X.509 certificate."), &[])),
];

const GROUP_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::new("displayName", T::String, "A human-readable name for the group; its directory id without externalId.")
        .required(),
    AttrDef::new("members", T::Complex, "The members of the group.").multi().subs(&[
        AttrDef::new("value", T::String, "The id of a member (a SCIM User or Group id).").mutability(M::Immutable),
        AttrDef::new("$ref", T::Reference, "The URI of the member.").refs(&["User", "Group"]).mutability(M::Immutable),
        // RFC 7643 §4.2 has `display` on members; Okta and Entra send it, so it is kept as given.
        AttrDef::new("display", T::String, "The member's display name."),
        AttrDef::new("type", T::String, "The type of the member.")
            .canonical(&["User", "Group"])
            .mutability(M::Immutable),
    ]),
];

const ENTERPRISE_USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::new("employeeNumber", T::String, "Numeric or alphanumeric identifier assigned to a person."),
    AttrDef::new("costCenter", T::String, "Identifies the name of a cost center."),
    AttrDef::new("organization", T::String, "Identifies the name of an organization."),
    AttrDef::new("division", T::String, "Identifies the name of a division."),
    AttrDef::new("department", T::String, "Identifies the name of a department."),
    AttrDef::new("manager", T::Complex, "The user's manager; signoff escalates to this user.").subs(&[
        AttrDef::new("value", T::String, "The SCIM id of the manager."),
        AttrDef::new("$ref", T::Reference, "The URI of the manager's User resource.").refs(&["User"]),
        AttrDef::new("displayName", T::String, "The manager's displayName, set by the server.").mutability(M::ReadOnly),
    ]),
];

const SIGNOFF_USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef::new("slackId", T::String, "Slack member id (U...): how signoff recognises the user on Slack.")
        .case_exact(),
    AttrDef::new("discordId", T::String, "Discord user id (a snowflake, as text).").case_exact(),
    AttrDef::new("grade", T::Integer, "Grade level, for grade-range rules."),
    AttrDef::new("workStatus", T::String, "FULL_TIME, PART_TIME, CONTRACTOR, ...").canonical(&[
        "FULL_TIME",
        "PART_TIME",
        "CONTRACTOR",
    ]),
    AttrDef::new("location", T::String, "Office or city."),
    AttrDef::new("permissions", T::String, "Global roles such as Helpdesk, Usermanager, Security.")
        .multi()
        .case_exact(),
    AttrDef::new("outOfOfficeUntil", T::DateTime, "The user is not asked to approve before this instant."),
];

/// The core User schema.
pub const USER: SchemaDef =
    SchemaDef { id: USER_SCHEMA, name: "User", description: "User Account", attributes: USER_ATTRIBUTES };
/// The core Group schema.
pub const GROUP: SchemaDef =
    SchemaDef { id: GROUP_SCHEMA, name: "Group", description: "Group", attributes: GROUP_ATTRIBUTES };
/// The enterprise User extension.
pub const ENTERPRISE_USER: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_USER_ATTRIBUTES,
};
/// signoff's User extension.
pub const SIGNOFF_USER: SchemaDef = SchemaDef {
    id: SIGNOFF_USER_SCHEMA,
    name: "SignoffUser",
    description: "signoff directory attributes: chat identities, grade, work status, location, permissions",
    attributes: SIGNOFF_USER_ATTRIBUTES,
};

/// Every schema `/Schemas` lists, core first.
pub const ALL_SCHEMAS: &[SchemaDef] = &[USER, GROUP, ENTERPRISE_USER, SIGNOFF_USER];

/// The core schema of a resource kind.
pub fn core_schema(kind: Kind) -> &'static SchemaDef {
    match kind {
        Kind::User => &USER,
        Kind::Group => &GROUP,
    }
}

/// The extension schemas a resource kind may carry, each under its URN key.
pub fn extensions(kind: Kind) -> &'static [SchemaDef] {
    const USER_EXTENSIONS: &[SchemaDef] = &[ENTERPRISE_USER, SIGNOFF_USER];
    match kind {
        Kind::User => USER_EXTENSIONS,
        Kind::Group => &[],
    }
}

/// The extension of `kind` whose URN is `urn` (case-insensitive, as RFC 7643 §2.1 makes URNs).
pub fn extension(kind: Kind, urn: &str) -> Option<&'static SchemaDef> {
    extensions(kind).iter().find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// Where an attribute path points, resolved against a kind's schemas: which schema holds it (`None` for the
/// core schema and the common attributes, else the extension URN whose object holds it), the attribute, and
/// the sub-attribute when the path names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// `None` when the attribute sits at the top level of the resource; the extension's URN otherwise.
    pub extension: Option<&'static str>,
    /// The top-level attribute.
    pub attr: &'static AttrDef,
    /// The sub-attribute, when the path has one.
    pub sub: Option<&'static AttrDef>,
}

impl Resolved {
    /// The definition the path finally names: the sub-attribute when there is one, else the attribute.
    pub fn target(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// Resolves an attribute path against `kind`'s schemas: a URN prefix selects the core schema or an
/// extension; an unqualified name is looked up in the core schema and the common attributes first, then in
/// the extensions (lenient: clients write `department` as often as the qualified form). `None` when nothing
/// matches, or when the path names a sub-attribute the attribute does not have.
pub fn resolve(kind: Kind, path: &AttrPath) -> Option<Resolved> {
    let core = core_schema(kind);
    let (extension, attr) = match path.urn.as_deref() {
        Some(urn) if urn.eq_ignore_ascii_case(core.id) => {
            (None, core.attribute(&path.name).or_else(|| common_attribute(&path.name))?)
        }
        Some(urn) => {
            let ext = extension(kind, urn)?;
            (Some(ext.id), ext.attribute(&path.name)?)
        }
        None => match core.attribute(&path.name).or_else(|| common_attribute(&path.name)) {
            Some(a) => (None, a),
            None => extensions(kind).iter().find_map(|e| Some((Some(e.id), e.attribute(&path.name)?)))?,
        },
    };
    let sub = match &path.sub {
        Some(s) => Some(attr.sub(s)?),
        None => None,
    };
    Some(Resolved { extension, attr, sub })
}

/// The definition an attribute path names in `kind`'s schemas (the sub-attribute's when the path has one):
/// what filters read `caseExact` and the type from, and PATCH reads `mutability` from.
pub fn attribute(kind: Kind, path: &AttrPath) -> Option<&'static AttrDef> {
    resolve(kind, path).map(|r| r.target())
}

/// `id`, `externalId` or `meta` by name (case-insensitive).
pub fn common_attribute(name: &str) -> Option<&'static AttrDef> {
    COMMON_ATTRIBUTES.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The `/Schemas` response body: a ListResponse of every schema (RFC 7644 §4).
pub fn schemas_json() -> Value {
    schemas_json_at(None)
}

/// The `/Schemas` response body with each schema's `meta.location` under `base_url` (the `/scim/v2` URL).
pub fn schemas_json_at(base_url: Option<&str>) -> Value {
    list_response(ALL_SCHEMAS.iter().map(|s| s.to_json(base_url)).collect())
}

/// The `/Schemas/{id}` response body, or `None` for an unknown URN.
pub fn schema_json(id: &str, base_url: Option<&str>) -> Option<Value> {
    ALL_SCHEMAS.iter().find(|s| s.id.eq_ignore_ascii_case(id)).map(|s| s.to_json(base_url))
}

/// One resource type (RFC 7643 §6) for `/ResourceTypes` and `/ResourceTypes/{name}`.
pub fn resource_type_json(kind: Kind, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let name = kind.resource_type();
    let extensions: Vec<Value> = extensions(kind).iter().map(|e| json!({"schema": e.id, "required": false})).collect();
    let mut rt = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": kind.endpoint(),
        "description": core_schema(kind).description,
        "schema": core_schema(kind).id,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
    });
    if let (false, Some(o)) = (extensions.is_empty(), rt.as_object_mut()) {
        o.insert("schemaExtensions".into(), Value::Array(extensions));
    }
    rt
}

/// The `/ResourceTypes` response body: User and Group with their extensions.
pub fn resource_types_json(base_url: &str) -> Value {
    list_response(vec![resource_type_json(Kind::User, base_url), resource_type_json(Kind::Group, base_url)])
}

/// The `/ServiceProviderConfig` response body (RFC 7643 §5): PATCH and filters are supported; bulk, password
/// change, sorting and ETags are not; clients authenticate with a bearer token that has the `scim` scope.
pub fn service_provider_config_json(base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/signoff/signoff#scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An API token with the scim scope, sent as Authorization: Bearer <token>.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

/// A ListResponse (RFC 7644 §3.4.2) holding all of `resources` on one page.
pub fn list_response(resources: Vec<Value>) -> Value {
    let n = resources.len();
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": n,
        "startIndex": 1,
        "itemsPerPage": n,
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::AttrPath;

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).expect("a valid attribute path")
    }

    #[test]
    fn user_name_is_required_unique_and_case_insensitive() {
        let a = attribute(Kind::User, &path("USERNAME")).expect("userName");
        assert_eq!(a.name, "userName");
        assert!(a.required && !a.case_exact);
        assert_eq!(a.uniqueness, Uniqueness::Server);
        assert!(attribute(Kind::User, &path("id")).is_some_and(|a| a.case_exact));
        assert!(attribute(Kind::User, &path("externalId")).is_some_and(|a| a.case_exact));
    }

    #[test]
    fn paths_resolve_through_urns_and_sub_attributes() {
        let r = resolve(Kind::User, &path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"))
            .expect("manager.value");
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!((r.attr.name, r.target().name), ("manager", "value"));
        let r = resolve(Kind::User, &path("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName"))
            .expect("name.familyName");
        assert_eq!((r.extension, r.target().name), (None, "familyName"));
        assert_eq!(resolve(Kind::User, &path("department")).map(|r| r.extension), Some(Some(ENTERPRISE_USER_SCHEMA)));
        assert!(resolve(Kind::Group, &path("department")).is_none());
        assert!(resolve(Kind::User, &path("name.nope")).is_none());
        assert!(attribute(Kind::User, &path("password")).is_some_and(|a| a.returned == Returned::Never));
    }

    #[test]
    fn schemas_list_every_schema_with_its_attributes() {
        let body = schemas_json();
        assert_eq!(body["totalResults"], 4);
        let user = &body["Resources"][0];
        assert_eq!(user["id"], USER_SCHEMA);
        let names: Vec<&str> =
            user["attributes"].as_array().into_iter().flatten().filter_map(|a| a["name"].as_str()).collect();
        for n in ["userName", "name", "active", "password", "emails", "groups", "x509Certificates"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let signoff = schema_json(SIGNOFF_USER_SCHEMA, Some("https://x/scim/v2")).expect("signoff schema");
        assert_eq!(signoff["meta"]["location"], format!("https://x/scim/v2/Schemas/{SIGNOFF_USER_SCHEMA}"));
    }

    #[test]
    fn service_provider_config_advertises_patch_and_filter_only() {
        let c = service_provider_config_json("https://x/scim/v2/");
        assert_eq!(c["patch"]["supported"], true);
        assert_eq!(c["filter"]["maxResults"], MAX_RESULTS);
        assert_eq!(c["bulk"]["supported"], false);
        assert_eq!(c["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(c["meta"]["location"], "https://x/scim/v2/ServiceProviderConfig");
        let rts = resource_types_json("https://x/scim/v2");
        assert_eq!(rts["Resources"][0]["schemaExtensions"][0]["schema"], ENTERPRISE_USER_SCHEMA);
        assert_eq!(rts["Resources"][1]["endpoint"], "/Groups");
    }
}
