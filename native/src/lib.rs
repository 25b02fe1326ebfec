//! Kairos's compiled hot path (`kairos_native`): what a decision writes for each ad it serves
//! from a prerendered page. Python gathers the values (`kairos.adserver.render`); this signs
//! them into the tracking URLs' tail and fills the page with it, as `tracking.Signer.sign`
//! and `prerender.Page.filled` do, byte for byte.

mod page;
mod records;
mod tail;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::tail::{Fields, Mac};

/// Writes a decision's ad answers with one HMAC-SHA256 key.
#[pyclass(frozen, module = "kairos_native")]
struct Writer {
    mac: Mac,
}

#[pymethods]
impl Writer {
    #[new]
    fn new(key: &[u8]) -> Self {
        Writer {
            mac: tail::mac(key),
        }
    }

    /// The tail every tracking URL of a choice ends with: its query and signature.
    #[pyo3(signature = (ad, decision, elements, consent, user, charged, cost, placement, landing, expires))]
    #[allow(clippy::too_many_arguments)]
    fn tail(
        &self,
        ad: &str,
        decision: &str,
        elements: Option<&str>,
        consent: bool,
        user: &str,
        charged: &str,
        cost: &str,
        placement: &str,
        landing: &str,
        expires: i64,
    ) -> String {
        let fields = Fields {
            ad,
            decision,
            elements,
            consent,
            user,
            charged,
            cost,
            placement,
            landing,
            expires,
        };
        tail::signed(&self.mac, &fields)
    }

    /// A page (its pieces and which value goes in each gap) filled with a choice's signed
    /// tail, decision id, eCPM and propensity, as UTF-8 JSON.
    #[pyo3(signature = (pieces, slots, ad, decision, elements, consent, user, charged, cost, placement, landing, expires, ecpm, propensity))]
    #[allow(clippy::too_many_arguments)]
    fn page<'py>(
        &self,
        py: Python<'py>,
        pieces: &Bound<'py, PyTuple>,
        slots: &[u8],
        ad: &str,
        decision: &str,
        elements: Option<&str>,
        consent: bool,
        user: &str,
        charged: &str,
        cost: &str,
        placement: &str,
        landing: &str,
        expires: i64,
        ecpm: f64,
        propensity: f64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let tail = self.tail(
            ad, decision, elements, consent, user, charged, cost, placement, landing, expires,
        );
        let numbers = [page::number(py, ecpm)?, page::number(py, propensity)?];
        let out = page::filled(pieces, slots, &tail, decision, &numbers)?;
        Ok(PyBytes::new(py, out.as_bytes()))
    }

    /// A served choice's decision record as JSON (`render.decision_records`, encoded): its values,
    /// and the parts several records share already JSON (an empty one is left out).
    #[pyo3(signature = (decision_id, ts, user_key, placement_id, advertiser_id, campaign_id, flight_id, ad_id, creative_id, elements, score, propensity, combination_propensity, options, model_version, features, candidates, eligible))]
    #[allow(clippy::too_many_arguments)]
    fn record<'py>(
        &self,
        py: Python<'py>,
        decision_id: &str,
        ts: &[u8],
        user_key: Option<&str>,
        placement_id: &str,
        advertiser_id: &str,
        campaign_id: &str,
        flight_id: &str,
        ad_id: &str,
        creative_id: &str,
        elements: &[u8],
        score: f64,
        propensity: f64,
        combination_propensity: Option<f64>,
        options: &[u8],
        model_version: Option<&str>,
        features: &[u8],
        candidates: i64,
        eligible: &[u8],
    ) -> Bound<'py, PyBytes> {
        let made = records::json(&records::Record {
            decision_id,
            ts,
            user_key,
            placement_id,
            advertiser_id,
            campaign_id,
            flight_id,
            ad_id,
            creative_id,
            elements,
            score,
            propensity,
            combination_propensity,
            options,
            model_version,
            features,
            candidates,
            eligible,
        });
        PyBytes::new(py, &made)
    }
}

#[pymodule]
fn kairos_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Writer>()?;
    Ok(())
}
