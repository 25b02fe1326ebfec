//! A decision's log record as JSON (`domain.decisions.DecisionRecord`, as msgspec writes it:
//! fields in their order, those at their default left out), from its values and the parts of
//! it already JSON (the time, elements, options, features and eligible ads, each written once
//! for every record that shares it).

use std::fmt::Write as _;

pub struct Record<'a> {
    pub decision_id: &'a str,
    pub ts: &'a [u8], // JSON
    pub user_key: Option<&'a str>,
    pub placement_id: &'a str,
    pub advertiser_id: &'a str,
    pub campaign_id: &'a str,
    pub flight_id: &'a str,
    pub ad_id: &'a str,
    pub creative_id: &'a str,
    pub elements: &'a [u8], // JSON; empty: none
    pub score: f64,
    pub propensity: f64,
    pub combination_propensity: Option<f64>,
    pub options: &'a [u8], // JSON; empty: none
    pub model_version: Option<&'a str>,
    pub features: &'a [u8], // JSON; empty: none
    pub candidates: i64,
    pub eligible: &'a [u8], // JSON
}

pub fn json(r: &Record) -> Vec<u8> {
    let mut out = String::with_capacity(512 + r.features.len() + r.eligible.len());
    out.push('{');
    text(&mut out, "decision_id", r.decision_id);
    raw(&mut out, "ts", r.ts);
    if let Some(user_key) = r.user_key {
        text(&mut out, "user_key", user_key);
    }
    text(&mut out, "placement_id", r.placement_id);
    text(&mut out, "advertiser_id", r.advertiser_id);
    text(&mut out, "campaign_id", r.campaign_id);
    text(&mut out, "flight_id", r.flight_id);
    text(&mut out, "ad_id", r.ad_id);
    text(&mut out, "creative_id", r.creative_id);
    raw(&mut out, "elements", r.elements);
    number(&mut out, "score", r.score);
    number(&mut out, "propensity", r.propensity);
    if let Some(share) = r.combination_propensity {
        number(&mut out, "combination_propensity", share);
    }
    raw(&mut out, "options", r.options);
    if let Some(version) = r.model_version {
        text(&mut out, "model_version", version);
    }
    raw(&mut out, "features", r.features);
    if r.candidates != 0 {
        key(&mut out, "candidates");
        write!(out, "{}", r.candidates).expect("writing to a String");
    }
    if r.eligible != b"[]" {
        raw(&mut out, "eligible", r.eligible);
    }
    out.push('}');
    out.into_bytes()
}

fn key(out: &mut String, name: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

fn text(out: &mut String, name: &str, value: &str) {
    key(out, name);
    string(out, value);
}

/// Already JSON; left out when empty.
fn raw(out: &mut String, name: &str, value: &[u8]) {
    if value.is_empty() {
        return;
    }
    key(out, name);
    // the caller's JSON, from msgspec: UTF-8 (checked, not trusted)
    match std::str::from_utf8(value) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(value)),
    }
}

/// A float as JSON: the shortest digits that read back as it; null when not finite.
fn number(out: &mut String, name: &str, value: f64) {
    key(out, name);
    if !value.is_finite() {
        out.push_str("null");
    } else if value == 0.0 || (1e-5..1e16).contains(&value.abs()) {
        write!(out, "{value:?}").expect("writing to a String");
    } else {
        write!(out, "{value:e}").expect("writing to a String");
    }
}

/// A JSON string: quotes, backslashes and control characters escaped, the rest as it is.
pub fn string(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (at, c) in value.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&value[start..at]);
        if escaped.is_empty() {
            write!(out, "\\u{:04x}", c as u32).expect("writing to a String");
        } else {
            out.push_str(escaped);
        }
        start = at + c.len_utf8();
    }
    out.push_str(&value[start..]);
    out.push('"');
}
