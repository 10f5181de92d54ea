//! Command-line values as domain values: attribute specs, targets, group settings, device
//! filters and selections.

use dps_core::{
    DeviceFilter, ModelType, ReprovisionMethod, Selection, Target, attribute::AttributeDef,
    attribute::AttributeSchema, attribute::AttributeType, state::AllocationStatus,
};

use crate::cli::{Filters, ModelTypeArg, ReprovisionArg, SelectionArgs, StatusArg};
use crate::{CliResult, Failure};

/// Parses an `--attribute` spec: `ID:TYPE[:required][=DEFAULT]`.
pub(crate) fn parse_attribute(spec: &str) -> CliResult<AttributeDef> {
    let bad = |why: &str| {
        Failure::invalid(
            "invalid_attribute_spec",
            format!("--attribute {spec:?}: {why} (ID:TYPE[:required][=DEFAULT])"),
        )
    };
    let (head, default) = match spec.split_once('=') {
        Some((h, d)) => (h, Some(d)),
        None => (spec, None),
    };
    let mut parts = head.split(':');
    let id = parts.next().ok_or_else(|| bad("missing identifier"))?;
    let ty = parts.next().ok_or_else(|| bad("missing type"))?;
    let required = match parts.next() {
        None => false,
        Some("required") => true,
        Some(other) => return Err(bad(&format!("unknown flag {other:?}"))),
    };
    if parts.next().is_some() {
        return Err(bad("too many parts"));
    }
    let ty = attribute_type(ty).map_err(bad)?;
    let mut def = AttributeDef::new(id.parse()?, ty);
    if required {
        def = def.required();
    }
    if let Some(d) = default {
        let value = def.parse_value(d)?;
        def = def.with_default(value);
    }
    Ok(def)
}

/// The `TYPE` of an attribute spec, or why it is not one.
fn attribute_type(ty: &str) -> Result<AttributeType, &'static str> {
    let mut parts = ty.split('/');
    match parts.next() {
        Some("integer") => Ok(AttributeType::Integer),
        Some("date") => Ok(AttributeType::Date),
        Some("string") => Ok(AttributeType::String {
            max_len: match parts.next() {
                Some(n) => n.parse().map_err(|_| "string/MAXLEN needs a number")?,
                None => 256,
            },
        }),
        Some("enum") => Ok(AttributeType::Enum {
            items: parts.map(str::to_owned).collect(),
        }),
        _ => Err("TYPE is integer, date, string[/MAXLEN] or enum/ITEM/..."),
    }
}

/// The attribute schema of the `--attribute` specs.
pub(crate) fn schema(specs: &[String]) -> CliResult<AttributeSchema> {
    let defs = specs
        .iter()
        .map(|s| parse_attribute(s))
        .collect::<CliResult<Vec<_>>>()?;
    Ok(AttributeSchema::new(defs)?)
}

/// The target of `--environment` and `--ou`, when both are given.
pub(crate) fn target_of(environment: Option<&str>, ou: Option<&str>) -> CliResult<Option<Target>> {
    match (environment, ou) {
        (Some(e), Some(o)) => Ok(Some(Target::new(e.parse()?, o.parse()?))),
        _ => Ok(None),
    }
}

/// The model type of `--model-type`.
pub(crate) fn model_type(m: ModelTypeArg) -> ModelType {
    match m {
        ModelTypeArg::Public => ModelType::Public,
        ModelTypeArg::Private => ModelType::Private,
    }
}

/// The reprovision method of `--reprovision`.
pub(crate) fn reprovision(r: ReprovisionArg) -> ReprovisionMethod {
    match r {
        ReprovisionArg::Migrate => ReprovisionMethod::Migrate,
        ReprovisionArg::Initialize => ReprovisionMethod::Initialize,
        ReprovisionArg::Disabled => ReprovisionMethod::Disabled,
    }
}

/// Parses an optional text value.
pub(crate) fn parse_opt<T: std::str::FromStr>(value: Option<&str>) -> Result<Option<T>, T::Err> {
    value.map(str::parse).transpose()
}

/// The device filter of `--status`, `--batch-tag`, `--model`, `--serial-prefix`.
pub(crate) fn filter(f: &Filters) -> CliResult<DeviceFilter> {
    Ok(DeviceFilter {
        status: f.status.map(|s| match s {
            StatusArg::NotAllocated => AllocationStatus::NotAllocated,
            StatusArg::Pending => AllocationStatus::Pending,
            StatusArg::Allocated => AllocationStatus::Allocated,
        }),
        batch_tag: parse_opt(f.batch_tag.as_deref())?,
        model_id: parse_opt(f.model.as_deref())?,
        serial_prefix: parse_opt(f.serial_prefix.as_deref())?,
        ..DeviceFilter::default()
    })
}

/// The selection of a batch command; no selection at all is a usage error.
pub(crate) fn selection(args: &SelectionArgs) -> CliResult<Selection> {
    if !args.serials.is_empty() {
        let serials = args
            .serials
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Selection::Serials(serials));
    }
    if args.all {
        return Ok(Selection::all());
    }
    let f = filter(&args.filters)?;
    if f.is_empty() {
        return Err(Failure::invalid(
            "usage",
            "select devices: give serials, --all, or a filter (--status, --batch-tag, --model, --serial-prefix)",
        ));
    }
    Ok(Selection::Filter(f))
}

#[cfg(test)]
mod tests {
    use dps_core::attribute::AttributeValue;

    use super::*;

    #[test]
    fn attribute_specs_parse() {
        let d = parse_attribute("floor:integer:required=3").unwrap();
        assert!(d.required);
        assert_eq!(d.default, Some(AttributeValue::Integer(3)));
        let d = parse_attribute("color:enum/red/blue").unwrap();
        assert!(matches!(d.ty, AttributeType::Enum { ref items } if items.len() == 2));
        let d = parse_attribute("note:string/20").unwrap();
        assert_eq!(d.ty, AttributeType::String { max_len: 20 });
        assert!(parse_attribute("x:float").is_err());
        assert!(parse_attribute("x:integer:maybe").is_err());
        assert!(parse_attribute("x:integer=abc").is_err());
        assert!(parse_attribute("x:string/long").is_err());
        assert!(parse_attribute("x").is_err());
    }

    #[test]
    fn a_batch_needs_a_selection() {
        let none = SelectionArgs {
            serials: Vec::new(),
            all: false,
            filters: Filters::default(),
        };
        let e = selection(&none).unwrap_err();
        assert_eq!((e.code.as_str(), e.exit), ("usage", 2));
    }
}
