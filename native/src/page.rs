//! A prerendered page filled in (`prerender.Page.filled`): its pieces with a decision's
//! values in the gaps, by slot: 0 the tail, 1 the tail escaped as HTML (`&` as `&amp;`), 2 the
//! decision id, 3 the eCPM, 4 the propensity.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyString, PyTuple};

/// A number as JSON writes it: Python's `repr` of the float, `null` when not finite (as orjson).
/// Both write the shortest digits that read back as the float, in decimals from 1e-4 up to
/// 1e16 (and 0): there Rust's `Debug` is the same text. Outside, Python spells the exponent.
pub fn number(py: Python<'_>, value: f64) -> PyResult<String> {
    if !value.is_finite() {
        return Ok("null".to_owned());
    }
    if value == 0.0 || (1e-4..1e16).contains(&value.abs()) {
        return Ok(format!("{value:?}"));
    }
    Ok(PyFloat::new(py, value).repr()?.to_str()?.to_owned())
}

pub fn filled(
    pieces: &Bound<'_, PyTuple>,
    slots: &[u8],
    tail: &str,
    decision: &str,
    numbers: &[String; 2],
) -> PyResult<String> {
    if pieces.len() != slots.len() + 1 {
        return Err(PyValueError::new_err(
            "a page has one more piece than slots",
        ));
    }
    let mut escaped: Option<String> = None;
    let mut out = String::with_capacity(4096);
    for (n, piece) in pieces.iter().enumerate() {
        if n > 0 {
            let value = match slots[n - 1] {
                0 => tail,
                1 => escaped
                    .get_or_insert_with(|| tail.replace('&', "&amp;"))
                    .as_str(),
                2 => decision,
                3 => numbers[0].as_str(),
                4 => numbers[1].as_str(),
                other => return Err(PyValueError::new_err(format!("no value for slot {other}"))),
            };
            out.push_str(value);
        }
        out.push_str(piece.cast::<PyString>()?.to_str()?);
    }
    Ok(out)
}
