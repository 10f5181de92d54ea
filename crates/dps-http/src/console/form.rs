//! The fields of a posted form (`application/x-www-form-urlencoded`), a name possibly
//! repeated (one `serial` per ticked box).

/// A form's fields, in their order.
#[derive(Debug, Default)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// The fields of a form body; a body that is not a form has none.
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self {
            fields: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// A form of `fields`.
    pub(crate) fn from_pairs(fields: Vec<(String, String)>) -> Self {
        Self { fields }
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` trimmed, `None` when absent or blank.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox `name` is ticked.
    pub(crate) fn ticked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The target of the `environment` and `ou` fields: none when both are blank, refused
    /// when one is.
    pub(crate) fn target(&self) -> Result<Option<dps_core::Target>, String> {
        match (self.text("environment"), self.text("ou")) {
            (None, None) => Ok(None),
            (Some(env), Some(ou)) => format!("{env}/{ou}")
                .parse()
                .map(Some)
                .map_err(|e: dps_core::ValidationError| e.to_string()),
            _ => Err("Give both the environment and the OU, or neither.".into()),
        }
    }
}

/// `pairs` as a query string (`a=1&b=2`), each value encoded.
pub(crate) fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_and_encoding() {
        let form = Form::parse(b"serial=A&serial=B%2F1&name=+a+b+&empty=");
        assert_eq!(form.all("serial"), ["A", "B/1"]);
        assert_eq!(form.get("name"), Some(" a b "));
        assert_eq!(form.text("name"), Some("a b"));
        assert_eq!(form.text("empty"), None);
        assert!(form.ticked("empty"));
        assert!(!form.ticked("missing"));
        assert_eq!(query([("a", "x y"), ("b", "&")]), "a=x+y&b=%26");
    }
}
