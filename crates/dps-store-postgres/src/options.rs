//! Options of [`PgStore::connect`](crate::PgStore::connect).

use dps_core::StoreError;

/// Options for [`PgStore::connect`](crate::PgStore::connect).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    pub(crate) schema: String,
    /// The most connections in the pool. Default: 8.
    pub pool_size: usize,
    /// The `application_name` the connections report. Default: `dps`.
    pub application_name: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "dps".to_owned(),
            pool_size: 8,
            application_name: "dps".to_owned(),
        }
    }
}

impl PgOptions {
    /// These options with another schema: 1 to 63 lowercase ASCII letters, digits and `_`,
    /// not starting with a digit.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] naming the rule when the name breaks it.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, StoreError> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(StoreError::Backend {
                message: format!(
                    "invalid schema name {schema:?}: use 1 to 63 lowercase ASCII letters, digits and _, not starting with a digit"
                ),
                source: None,
            });
        }
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// These options with another pool size (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// These options with another application name.
    #[must_use]
    pub fn with_application_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.application_name);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        assert!(PgOptions::default().with_schema("tenant_1").is_ok());
        for bad in ["", "1abc", "Tenant", "a-b", "a\"b", &"a".repeat(64)] {
            assert!(PgOptions::default().with_schema(bad).is_err(), "{bad:?}");
        }
    }
}
