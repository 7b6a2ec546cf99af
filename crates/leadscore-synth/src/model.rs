//! The ground truth: how a synthetic lead's attributes drive conversion, timing and deal size.
//!
//! The generator draws outcomes from this model, and `truth.parquet` records its exact
//! probabilities, so a trained model can be compared with the best possible one.

use crate::world::{Channel, Department, Industry, Seniority};

/// Intercept of the conversion logit (tuned for roughly 10% eventual conversion among new
/// business leads, about 6-7% within a 40-day window).
pub const BASE_LOGIT: f64 = -3.6;
/// Spread of deal amounts around their median (log scale).
pub const AMOUNT_SIGMA: f64 = 0.55;
/// Shape of the gamma-distributed lag from lead creation to a won deal.
pub const LAG_SHAPE: f64 = 2.0;

/// What the model needs to know about a lead.
#[derive(Debug, Clone, Copy)]
pub struct Drivers<'a> {
    /// Seniority behind the job title.
    pub seniority: Seniority,
    /// Department behind the job title.
    pub department: Department,
    /// True company headcount.
    pub employees: f64,
    /// Industry.
    pub industry: &'a Industry,
    /// E-mail class.
    pub email: EmailClass,
    /// Acquisition channel.
    pub channel: Channel,
    /// Position in the generated period, 0 at the start to 1 at the end (drift).
    pub period_pos: f64,
    /// Budget answer (0 = not given, 1 = under 5k … 4 = 50k+).
    pub budget: u8,
    /// Timeline answer (0 = not given, 1 = immediately … 4 = just researching).
    pub timeline: u8,
    /// Latent purchase intent, standard normal (also drives pre-lead web events).
    pub intent: f64,
    /// Local hour of creation.
    pub hour: u32,
    /// Whether a phone number was given.
    pub has_phone: bool,
    /// Month of year (1-12) of creation, for seasonality.
    pub month: u32,
}

/// E-mail classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailClass {
    /// name@company-domain.
    Corporate,
    /// Gmail, Outlook, …
    Free,
    /// Throw-away mailboxes.
    Disposable,
    /// Not an address.
    Invalid,
    /// Left empty.
    Missing,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Logit of eventually (at any lag) winning a new-business deal.
pub fn conversion_logit(d: &Drivers<'_>) -> f64 {
    let log_size = d.employees.max(1.0).log10();
    let mut z = BASE_LOGIT;
    z += match d.seniority {
        // C-level people at big companies rarely buy themselves: an interaction.
        Seniority::CLevel => {
            if d.employees < 1000.0 {
                0.8
            } else {
                0.2
            }
        }
        Seniority::Vp => 0.9,
        Seniority::Director => 0.7,
        Seniority::Manager => 0.3,
        Seniority::Individual => 0.0,
        Seniority::Student => -2.0,
        Seniority::Unknown => -0.4,
    };
    z += match d.department {
        Department::Marketing => 0.35,
        Department::Sales => 0.2,
        Department::Engineering => -0.15,
        Department::Finance => 0.0,
        Department::Hr => -0.3,
        Department::Operations => 0.05,
        Department::General => 0.1,
    };
    // Mid-sized companies buy most: an inverted U in log headcount.
    z += 0.9 * (-(log_size - 2.5).powi(2) / 1.0).exp() - 0.3;
    // Software companies above 200 people are the sweet spot: industry x size.
    let boost = if d.industry.name == "Computer Software" && d.employees >= 200.0 { 1.8 } else { 1.0 };
    z += d.industry.effect * boost;
    z += match d.email {
        EmailClass::Corporate => 0.3,
        EmailClass::Free => -0.5,
        EmailClass::Disposable => -2.5,
        EmailClass::Invalid => -1.5,
        EmailClass::Missing => -0.4,
    };
    z += match d.channel {
        Channel::Organic => 0.2,
        Channel::PaidSearch => 0.15,
        // Paid social quality erodes over the period: drift.
        Channel::PaidSocial => -0.2 - 0.6 * d.period_pos,
        Channel::Referral => 0.6,
        Channel::Direct => 0.1,
        Channel::Email => 0.0,
        Channel::Social => -0.2,
        Channel::Offline => 0.4,
    };
    z += [0.0, -0.4, 0.2, 0.5, 0.7][usize::from(d.budget.min(4))];
    z += [0.0, 0.6, 0.3, -0.1, -0.6][usize::from(d.timeline.min(4))];
    z += 0.2 * d.intent;
    z += match d.hour {
        0..=5 => -0.3,
        8..=17 => 0.1,
        _ => 0.0,
    };
    if d.has_phone {
        z += 0.25;
    }
    z += 0.12 * (std::f64::consts::TAU * f64::from(d.month) / 12.0).sin();
    z
}

/// Probability of eventually winning a new-business deal.
pub fn p_ever(d: &Drivers<'_>) -> f64 {
    sigmoid(conversion_logit(d))
}

/// Scale (days) of the gamma lag: bigger companies take longer.
pub fn lag_scale_days(employees: f64) -> f64 {
    8.0 + 5.0 * employees.max(1.0).log10()
}

/// P(lag < window) for a gamma lag with shape 2: 1 - e^(-x)(1 + x), x = window / scale.
pub fn p_within(window_days: f64, scale_days: f64) -> f64 {
    let x = window_days / scale_days;
    1.0 - (-x).exp() * (1.0 + x)
}

/// Median deal amount in EUR.
pub fn median_amount_eur(employees: f64, industry: &Industry, product: u8) -> f64 {
    let product_mult = [0.5, 1.0, 2.5][usize::from(product.min(2))];
    2500.0 * (employees.max(1.0) / 20.0).powf(0.4) * industry.deal_mult * product_mult
}

/// Expected deal amount in EUR (lognormal mean).
pub fn mean_amount_eur(employees: f64, industry: &Industry, product: u8) -> f64 {
    median_amount_eur(employees, industry, product) * (AMOUNT_SIGMA * AMOUNT_SIGMA / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::INDUSTRIES;

    #[test]
    fn within_window_probability_is_a_cdf() {
        assert!(p_within(0.0, 10.0).abs() < 1e-12);
        assert!(p_within(40.0, 10.0) > p_within(40.0, 20.0));
        assert!((p_within(1e6, 10.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn planted_effects_point_the_documented_way() {
        let base = Drivers {
            seniority: Seniority::Manager,
            department: Department::Marketing,
            employees: 300.0,
            industry: &INDUSTRIES[0],
            email: EmailClass::Corporate,
            channel: Channel::Organic,
            period_pos: 0.0,
            budget: 0,
            timeline: 0,
            intent: 0.0,
            hour: 10,
            has_phone: false,
            month: 6,
        };
        let p = p_ever(&base);
        assert!(p_ever(&Drivers { seniority: Seniority::Student, ..base }) < p);
        assert!(p_ever(&Drivers { email: EmailClass::Disposable, ..base }) < p);
        assert!(p_ever(&Drivers { employees: 3.0, ..base }) < p);
        let social_early = p_ever(&Drivers { channel: Channel::PaidSocial, ..base });
        let social_late = p_ever(&Drivers { channel: Channel::PaidSocial, period_pos: 1.0, ..base });
        assert!(social_late < social_early, "paid social drifts down");
    }
}
