use std::time::{Duration, Instant};

use super::*;

fn sample(at: Instant, uptime: u32, inn: u64, out: u64, width: CounterWidth) -> InterfaceSample {
    InterfaceSample {
        if_index: 2,
        in_octets: inn,
        out_octets: out,
        width,
        speed_bps: Some(1_000_000_000),
        oper_status: Some(1),
        sys_uptime: uptime,
        discontinuity_time: Some(0),
        taken_at: at,
    }
}

#[test]
fn rates_from_sysuptime_interval() {
    let t0 = Instant::now();
    let a = sample(t0, 1000, 0, 0, CounterWidth::Bits64);
    let b = sample(t0 + Duration::from_secs(10), 2000, 12_500_000, 1_250_000, CounterWidth::Bits64);
    let r = compute_rates(&a, &b).unwrap();
    assert_eq!(r.in_bps, 10_000_000.0);
    assert_eq!(r.out_bps, 1_000_000.0);
    assert_eq!(r.interval, Duration::from_secs(10));
    assert_eq!(r.utilization, Some(0.01));
}

#[test]
fn counter32_wrap_is_handled() {
    let t0 = Instant::now();
    let a = sample(t0, 1000, u32::MAX as u64 - 999, 10, CounterWidth::Bits32);
    let b = sample(t0 + Duration::from_secs(1), 1100, 1000, 20, CounterWidth::Bits32);
    let r = compute_rates(&a, &b).unwrap();
    assert_eq!(r.in_bps, 2000.0 * 8.0);
}

#[test]
fn counter64_going_backwards_is_a_discontinuity() {
    let t0 = Instant::now();
    let a = sample(t0, 1000, 5000, 10, CounterWidth::Bits64);
    let b = sample(t0 + Duration::from_secs(1), 1100, 1000, 20, CounterWidth::Bits64);
    assert_eq!(compute_rates(&a, &b), Err(RateError::Discontinuity));
}

#[test]
fn uptime_going_backwards_is_a_restart_unless_it_wrapped() {
    let t0 = Instant::now();
    let a = sample(t0, 500_000, 5000, 10, CounterWidth::Bits64);
    let b = sample(t0 + Duration::from_secs(10), 300, 6000, 20, CounterWidth::Bits64);
    assert_eq!(compute_rates(&a, &b), Err(RateError::Restarted));
    let a = sample(t0, u32::MAX - 499, 5000, 10, CounterWidth::Bits64);
    let b = sample(t0 + Duration::from_secs(10), 500, 6000, 20, CounterWidth::Bits64);
    assert_eq!(compute_rates(&a, &b).unwrap().interval, Duration::from_secs(10));
}

#[test]
fn uptime_far_behind_wall_clock_is_a_restart() {
    let t0 = Instant::now();
    let a = sample(t0, 1000, 0, 0, CounterWidth::Bits64);
    let b = sample(t0 + Duration::from_secs(600), 2000, 10, 10, CounterWidth::Bits64);
    assert_eq!(compute_rates(&a, &b), Err(RateError::Restarted));
}

#[test]
fn implausible_32bit_delta_gives_no_reading() {
    let t0 = Instant::now();
    let a = sample(t0, 1000, 4_000_000_000, 0, CounterWidth::Bits32);
    let mut b = sample(t0 + Duration::from_millis(100), 1010, 100, 0, CounterWidth::Bits32);
    b.speed_bps = Some(10_000_000);
    assert_eq!(compute_rates(&a, &b), Err(RateError::Implausible));
}

#[test]
fn implausible_64bit_delta_gives_no_reading_and_is_counted() {
    // 1 Gbit/s link, 10 s: 12.5 GB would be 10x line rate (a counter re-based by the agent).
    let t0 = Instant::now();
    let a = sample(t0, 1000, 1_000, 0, CounterWidth::Bits64);
    let b = sample(t0 + Duration::from_secs(10), 2000, 12_500_001_000, 0, CounterWidth::Bits64);
    assert_eq!(compute_rates(&a, &b), Err(RateError::Implausible));
    // Just under 1.5x line rate is still a reading (utilization 1.4: a mis-set speed).
    let c = sample(t0 + Duration::from_secs(10), 2000, 1_750_001_000, 0, CounterWidth::Bits64);
    assert!((compute_rates(&a, &c).unwrap().utilization.unwrap() - 1.4).abs() < 1e-9);

    let mut calc = RateCalculator::default();
    calc.observe(a);
    assert_eq!(calc.observe(b), RateObservation::Reset(RateError::Implausible));
    assert_eq!(calc.implausible_intervals(), 1);
    // The implausible sample is the new baseline: the next interval reads normally.
    let d = sample(
        t0 + Duration::from_secs(20),
        3000,
        12_500_001_000 + 125_000_000,
        0,
        CounterWidth::Bits64,
    );
    let RateObservation::Rates(r) = calc.observe(d) else { panic!("a reading after the jump") };
    assert_eq!(r.utilization, Some(0.1));
}

#[test]
fn calculator_reports_baseline_rates_and_reset() {
    let t0 = Instant::now();
    let mut c = RateCalculator::default();
    assert_eq!(c.observe(sample(t0, 1000, 0, 0, CounterWidth::Bits64)), RateObservation::Baseline);
    assert!(matches!(
        c.observe(sample(t0 + Duration::from_secs(1), 1100, 100, 100, CounterWidth::Bits64)),
        RateObservation::Rates(_)
    ));
    let mut s = sample(t0 + Duration::from_secs(2), 1200, 200, 200, CounterWidth::Bits64);
    s.discontinuity_time = Some(1150);
    assert_eq!(c.observe(s), RateObservation::Reset(RateError::Discontinuity));
}
