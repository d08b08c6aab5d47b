//! The shoppers of section 8, "a drop with bots": people and bots going through the real HTTP
//! API of a shop (the waiting room's challenge, join and status, then Buy), each as one task,
//! and what each of them got.
//!
//! People arrive spread over the prequeue and the first minute of the sale, solve the
//! challenge at a browser's speed (the nonce is found natively, then the task waits as long as
//! a browser would have taken for as many attempts), poll at `refreshSeconds` and press Buy
//! 0.5 to 3 s after their turn comes (without a room: after the sale starts). Bots arrive in
//! the last second before the start, solve natively, poll ten times as often and press Buy
//! within 10 ms.

use rand::Rng;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// SHA-256 attempts a second of a browser's Web Worker (a phone is slower, a laptop faster).
pub const BROWSER_HASHES_PER_SEC: f64 = 1_000_000.0;
/// How long before its last-second join a bot fetches and solves its challenge.
const BOT_PREPARES: Duration = Duration::from_secs(20);
/// How long a shopper keeps at it before giving up (the drop is over by then).
const GIVE_UP: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Bot,
}

/// One shopper of the drop.
#[derive(Debug, Clone)]
pub struct Shopper {
    pub kind: Kind,
    /// The `Cookie` header of a signed-in account.
    pub cookie: String,
    /// When it opens the product page, from the opening of the line.
    pub arrival: Duration,
}

/// What a shopper got.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: Kind,
    pub arrival: Duration,
    pub got_one: bool,
    /// Its place in the waiting room's line (none without the room).
    pub position: Option<u64>,
    /// It arrived before the start but joined after it, behind the draw.
    pub joined_late: bool,
    /// From the later of its arrival and the sale's start to knowing (a unit, or none left).
    pub wait: Option<Duration>,
}

/// The drop being simulated.
#[derive(Debug, Clone)]
pub struct Event {
    /// `http://host:port` of the gateway the shoppers talk to.
    pub base: String,
    pub product: i64,
    /// Whether the product has a waiting room.
    pub room: bool,
    /// The line opens (the simulation's zero), and the sale starts.
    pub open: Instant,
    pub start: Instant,
}

/// People arrive uniformly over `[0, prequeue + after_start)`; bots in the last second before
/// the start.
pub fn arrivals(
    people: usize,
    bots: usize,
    prequeue: Duration,
    after_start: Duration,
    cookie: impl Fn(usize) -> String,
) -> Vec<Shopper> {
    let mut rng = rand::thread_rng();
    let span = (prequeue + after_start).as_secs_f64();
    let last_second = prequeue.as_secs_f64().min(1.0);
    (0..people + bots)
        .map(|i| {
            let (kind, at) = if i < people {
                (Kind::Person, rng.gen_range(0.0..span))
            } else {
                (
                    Kind::Bot,
                    prequeue.as_secs_f64() - rng.gen_range(0.0..last_second.max(0.001)),
                )
            };
            Shopper {
                kind,
                cookie: cookie(i),
                arrival: Duration::from_secs_f64(at.max(0.0)),
            }
        })
        .collect()
}

/// Runs every shopper against `event` at once; their outcomes, in the order given.
pub async fn run(event: &Event, shoppers: Vec<Shopper>) -> anyhow::Result<Vec<Outcome>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4_096)
        .timeout(Duration::from_secs(10))
        .build()?;
    // Native solving is CPU work: no more at once than there are cores.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let solvers = Arc::new(Semaphore::new(cores));
    let mut tasks = Vec::with_capacity(shoppers.len());
    for shopper in shoppers {
        let (event, client, solvers) = (event.clone(), client.clone(), solvers.clone());
        tasks.push(tokio::spawn(async move {
            let (place, late) = (AtomicU64::new(0), AtomicBool::new(false));
            let visit = shop(&event, &client, &solvers, &shopper, &place, &late);
            let got = tokio::time::timeout(GIVE_UP, visit).await.unwrap_or(None);
            let begun = event.start.max(event.open + shopper.arrival);
            Outcome {
                kind: shopper.kind,
                arrival: shopper.arrival,
                got_one: got.is_some_and(|(got, _)| got),
                position: Some(place.load(Ordering::Relaxed)).filter(|p| *p > 0),
                joined_late: late.load(Ordering::Relaxed),
                wait: got.map(|(_, at)| at.saturating_duration_since(begun)),
            }
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await?);
    }
    Ok(outcomes)
}

/// One shopper's visit: `Some((got a unit, when it knew))`, `None` if it never knew; its
/// place in line goes into `place`, and `late` says it came before the start but could only
/// join after it (this process's CPU fell behind: the figures are then off).
async fn shop(
    event: &Event,
    client: &reqwest::Client,
    solvers: &Semaphore,
    who: &Shopper,
    place: &AtomicU64,
    late: &AtomicBool,
) -> Option<(bool, Instant)> {
    // A bot in front of a waiting room starts earlier (below): it prepares its challenge.
    if !(event.room && who.kind == Kind::Bot) {
        tokio::time::sleep_until(event.open + who.arrival).await;
    }
    let api = Api {
        client,
        base: &event.base,
        cookie: &who.cookie,
        product: event.product,
    };
    if !event.room {
        // The page counts down to the start; then a reaction, or a script's 10 ms.
        let from = event.start.max(Instant::now());
        tokio::time::sleep_until(from + reaction(who.kind)).await;
        return buy_until_answered(&api, who.kind).await;
    }

    // Join: a challenge, solved, then the join itself. A bot's operator fetches and solves
    // its challenges ahead (they are good for minutes) and joins at the last second; a
    // person's page asks when they arrive and joins as soon as the worker is done.
    let mut first = true;
    loop {
        if who.kind == Kind::Bot && first {
            let prepare = event.open.max((event.open + who.arrival) - BOT_PREPARES);
            tokio::time::sleep_until(prepare).await;
        }
        let Ok((status, body)) = api.get("challenge").await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        if status != 200 {
            if word(&body) == "ended" {
                return Some((false, Instant::now()));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let challenge = body["challenge"].as_str().unwrap_or_default().to_owned();
        let difficulty = u8::try_from(body["difficulty"].as_u64().unwrap_or(0)).unwrap_or(64);
        let asked_at = Instant::now();
        let (nonce, tried) = {
            let _cpu = solvers.acquire().await.ok()?;
            let challenge = challenge.clone();
            tokio::task::spawn_blocking(move || solve(&challenge, difficulty))
                .await
                .ok()?
        };
        match who.kind {
            Kind::Person => {
                let browser = Duration::from_secs_f64(tried as f64 / BROWSER_HASHES_PER_SEC);
                tokio::time::sleep_until(asked_at + browser).await;
            }
            Kind::Bot if first => tokio::time::sleep_until(event.open + who.arrival).await,
            Kind::Bot => {}
        }
        first = false;
        match api.post_join(&challenge, &nonce).await {
            Ok((200, joined)) => {
                // A place at once means the line was drawn already: this join came after it.
                let arrived_before = who.arrival < event.start - event.open;
                late.store(
                    arrived_before && joined["position"].is_u64(),
                    Ordering::Relaxed,
                );
                break;
            }
            Ok((403, body)) if word(&body) == "ended" => return Some((false, Instant::now())),
            Ok((400, _)) => continue, // expired while solving: a fresh one
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }

    // Wait for the turn, polling as the page does (bots ten times as often).
    loop {
        let mut refresh = Duration::from_secs(2);
        if let Ok((200, status)) = api.get("status").await {
            refresh =
                Duration::from_secs_f64(status["refreshSeconds"].as_f64().unwrap_or(2.0).max(0.1));
            if let Some(position) = status["position"].as_u64() {
                place.store(position, Ordering::Relaxed);
            }
            if status["state"] == "ended" {
                return Some((false, Instant::now()));
            }
            if status["admitted"] == true {
                tokio::time::sleep(reaction(who.kind)).await;
                match buy_until_answered(&api, who.kind).await {
                    // Admission ran out or was not seen yet by the owner: back to waiting.
                    Some((false, _)) if !api.sold_out().await => {}
                    answer => return answer,
                }
            }
        }
        if who.kind == Kind::Bot {
            refresh /= 10;
        }
        tokio::time::sleep(refresh).await;
    }
}

/// Clicks Buy until the answer is final: `(got one, when)`.
async fn buy_until_answered(api: &Api<'_>, kind: Kind) -> Option<(bool, Instant)> {
    loop {
        let (status, body) = match api.buy().await {
            Ok(answer) => answer,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        match status {
            202 | 409 => return Some((true, Instant::now())),
            410 => return Some((false, Instant::now())),
            403 if word(&body) == "not_admitted" => return Some((false, Instant::now())),
            429 => {
                let secs = body["retryAfter"].as_f64().unwrap_or(1.0);
                tokio::time::sleep(Duration::from_secs_f64(secs.max(0.01))).await;
            }
            // Not on sale yet (a clock a hair early), or busy: a script retries at once, a
            // person after a moment.
            _ => {
                tokio::time::sleep(match kind {
                    Kind::Bot => Duration::from_millis(10),
                    Kind::Person => Duration::from_millis(700),
                })
                .await
            }
        }
    }
}

/// How long after its turn (or the start) a shopper presses Buy.
fn reaction(kind: Kind) -> Duration {
    let mut rng = rand::thread_rng();
    Duration::from_secs_f64(match kind {
        Kind::Person => rng.gen_range(0.5..3.0),
        Kind::Bot => rng.gen_range(0.0..0.010),
    })
}

fn word(body: &serde_json::Value) -> &str {
    body["result"].as_str().unwrap_or_default()
}

/// The nonce a browser's worker finds (the first decimal number, counting up from 0, whose
/// SHA-256(`challenge:nonce`) starts with `bits` zero bits), and the attempts it took. The
/// prefix is hashed once; the page's worker does the same.
pub fn solve(challenge: &str, bits: u8) -> (String, u64) {
    let prefix = Sha256::new_with_prefix(format!("{challenge}:").as_bytes());
    let mut digits = itoa_buffer();
    for n in 0u64.. {
        let text = decimal(n, &mut digits);
        let digest = prefix.clone().chain_update(text).finalize();
        if leading_zero_bits(&digest) >= u32::from(bits) {
            return (String::from_utf8_lossy(text).into_owned(), n + 1);
        }
    }
    unreachable!("some nonce below 2^64 has the bits")
}

fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, written into the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte != 0 {
            return bits + byte.leading_zeros();
        }
        bits += 8;
    }
    bits
}

/// The requests of one shopper.
struct Api<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    cookie: &'a str,
    product: i64,
}

impl Api<'_> {
    async fn get(&self, what: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let res = self
            .client
            .get(format!("{}/queue/{}/{what}", self.base, self.product))
            .header("Cookie", self.cookie)
            .send()
            .await?;
        answer(res).await
    }

    async fn post_join(
        &self,
        challenge: &str,
        nonce: &str,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let res = self
            .client
            .post(format!("{}/queue/{}/join", self.base, self.product))
            .header("Cookie", self.cookie)
            .form(&[("challenge", challenge), ("nonce", nonce)])
            .send()
            .await?;
        answer(res).await
    }

    async fn buy(&self) -> anyhow::Result<(u16, serde_json::Value)> {
        let res = self
            .client
            .post(format!("{}/getOne?productID={}", self.base, self.product))
            .header("Cookie", self.cookie)
            .send()
            .await?;
        answer(res).await
    }

    async fn sold_out(&self) -> bool {
        matches!(self.get("status").await, Ok((200, s)) if s["state"] == "ended")
    }
}

async fn answer(res: reqwest::Response) -> anyhow::Result<(u16, serde_json::Value)> {
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    Ok((status, body))
}

/// The figures of one drop.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub units_to_bots: usize,
    pub units_to_people: usize,
    pub people: usize,
    pub people_median_wait: Option<Duration>,
    /// Of the people who arrived before the start, the earliest and the latest tenth:
    /// (winners, how many).
    pub earliest: (usize, usize),
    pub latest: (usize, usize),
    /// The same tenths' mean place in line, as a fraction of the line (0.5: the middle);
    /// `None` without the room. Far less noisy than a win rate over a few hundred people.
    pub earliest_place: Option<f64>,
    pub latest_place: Option<f64>,
    /// Shoppers who came before the start but joined after it (see [`Outcome::joined_late`]).
    pub joined_late: usize,
}

impl Tally {
    pub fn of(outcomes: &[Outcome], prequeue: Duration) -> Tally {
        let people: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == Kind::Person).collect();
        let mut waits: Vec<Duration> = people.iter().filter_map(|o| o.wait).collect();
        waits.sort();
        let mut early: Vec<&&Outcome> = people.iter().filter(|o| o.arrival < prequeue).collect();
        early.sort_by_key(|o| o.arrival);
        let tenth = early.len() / 10;
        let wins = |group: &[&&Outcome]| (group.iter().filter(|o| o.got_one).count(), group.len());
        let line = outcomes
            .iter()
            .filter_map(|o| o.position)
            .max()
            .unwrap_or(0);
        let place = |group: &[&&Outcome]| {
            let places: Vec<f64> = group
                .iter()
                .filter_map(|o| o.position)
                .map(|p| p as f64 / line as f64)
                .collect();
            (!places.is_empty()).then(|| places.iter().sum::<f64>() / places.len() as f64)
        };
        Tally {
            units_to_bots: outcomes
                .iter()
                .filter(|o| o.kind == Kind::Bot && o.got_one)
                .count(),
            units_to_people: people.iter().filter(|o| o.got_one).count(),
            people: people.len(),
            people_median_wait: waits.get(waits.len() / 2).copied(),
            earliest: wins(&early[..tenth]),
            latest: wins(&early[early.len() - tenth..]),
            earliest_place: place(&early[..tenth]),
            latest_place: place(&early[early.len() - tenth..]),
            joined_late: outcomes.iter().filter(|o| o.joined_late).count(),
        }
    }

    pub fn bots_share(&self) -> f64 {
        let sold = self.units_to_bots + self.units_to_people;
        if sold == 0 {
            0.0
        } else {
            self.units_to_bots as f64 / sold as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: Kind, arrival: u64, got_one: bool) -> Outcome {
        Outcome {
            kind,
            arrival: Duration::from_secs(arrival),
            got_one,
            position: Some(arrival + 1),
            joined_late: false,
            wait: Some(Duration::from_secs(arrival % 7)),
        }
    }

    #[test]
    fn a_solved_challenge_is_what_the_shop_checks() {
        for bits in [0, 1, 8, 12] {
            let challenge = "q7.42.1800000000.8.abcdef";
            let (nonce, tried) = solve(challenge, bits);
            assert!(
                flashsale_core::waiting_room::solves(challenge, &nonce, bits),
                "{bits} bits: {nonce}"
            );
            assert_eq!(nonce, flashsale_core::waiting_room::solve(challenge, bits));
            assert_eq!(tried, nonce.parse::<u64>().expect("decimal") + 1);
        }
        let mut buf = itoa_buffer();
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1_234_567, &mut buf), b"1234567");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }

    #[test]
    fn the_tally_counts_units_and_compares_early_and_late_arrivals() {
        // 20 people before the start at 100 s: the first two won, of the last two one did.
        let mut outcomes: Vec<Outcome> = (0..20)
            .map(|i| outcome(Kind::Person, i * 5, i < 2 || i == 19))
            .collect();
        outcomes.push(outcome(Kind::Person, 150, true)); // after the start: in neither tenth
        outcomes.push(outcome(Kind::Bot, 99, true));
        outcomes.push(outcome(Kind::Bot, 99, false));
        let tally = Tally::of(&outcomes, Duration::from_secs(100));
        assert_eq!((tally.units_to_bots, tally.units_to_people), (1, 4));
        assert_eq!(tally.people, 21);
        assert_eq!(tally.earliest, (2, 2));
        assert_eq!(tally.latest, (1, 2));
        // Places 1 and 6 of a line of 151, against 91 and 96.
        let early = tally.earliest_place.expect("places");
        assert!((early - 7.0 / 2.0 / 151.0).abs() < 1e-9, "{early}");
        assert!(tally.latest_place.expect("places") > 0.6);
        assert!((tally.bots_share() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn bots_arrive_in_the_last_second_and_people_over_the_whole_span() {
        let shoppers = arrivals(
            1_000,
            100,
            Duration::from_secs(60),
            Duration::from_secs(4),
            |i| format!("uid={i}"),
        );
        assert_eq!(shoppers.len(), 1_100);
        let bots: Vec<&Shopper> = shoppers.iter().filter(|s| s.kind == Kind::Bot).collect();
        assert_eq!(bots.len(), 100);
        assert!(bots
            .iter()
            .all(|b| b.arrival >= Duration::from_secs(59) && b.arrival <= Duration::from_secs(60)));
        let late = shoppers
            .iter()
            .filter(|s| s.kind == Kind::Person && s.arrival >= Duration::from_secs(60))
            .count();
        // 4 s of 64: about 62 of 1,000 people arrive after the start.
        assert!((20..130).contains(&late), "{late} people after the start");
    }
}
