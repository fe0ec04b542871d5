//! Several stores read as one: paging over a federation returns every line of every member
//! exactly once in one total order, whatever the page size, direction or budget; one store
//! behind a federation answers as the store alone; tails merge history and go on live.

use std::collections::HashMap;
use std::time::Duration;

use logstore::*;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_714_557_600 * S; // 2024-05-01T10:00:00Z

fn small() -> Config {
    Config {
        block_bytes: 256,
        segment_bytes: 4 * 1024,
        segment_age: Duration::from_secs(600),
        compression_level: 1,
        ..Config::default()
    }
}

/// Three nodes, two containers each; many lines share a timestamp across nodes and
/// containers, so the order inside one timestamp is exercised.
fn three_nodes() -> (Federation, Vec<(String, Store)>) {
    let f = Federation::new();
    let mut members = Vec::new();
    for (n, node) in ["node-a", "node-b", "node-c"].into_iter().enumerate() {
        let store = Store::in_memory(small()).unwrap();
        for c in ["app", "sidecar"] {
            let s = store
                .stream(
                    &StreamKey::new("shop", format!("web-{n}"), c),
                    &Labels::from([("app".into(), "web".into())]),
                )
                .unwrap();
            for i in 0..120i64 {
                // every third line at a timestamp the other nodes use too
                let ts = if i % 3 == 0 {
                    i * S
                } else {
                    i * S + (n as i64 + 1) * 1000
                };
                s.append(
                    Timestamp(T0 + ts),
                    LogStream::Stdout,
                    format!("{node} {c} line {i} {}", "x".repeat(30)).as_bytes(),
                )
                .unwrap();
            }
        }
        store.flush().unwrap();
        f.insert(node, store.clone()).unwrap();
        members.push((node.to_string(), store));
    }
    (f, members)
}

/// Every line of every member, with the global ids a federation gives them, in time order.
fn expected(members: &[(String, Store)]) -> Vec<(Position, String)> {
    let mut out = Vec::new();
    for (name, store) in members {
        let tag = u64::from(Federation::tag_of(name));
        for l in store
            .query(&Query::new(StreamSelector::default()))
            .unwrap()
            .lines
        {
            let mut p = l.position;
            p.stream_id |= tag << 32;
            out.push((p, l.text_lossy().into_owned()));
        }
    }
    out.sort();
    out
}

fn page_through(f: &Federation, q: Query) -> (Vec<(Position, String)>, usize) {
    let mut out = Vec::new();
    let mut q = q;
    let mut pages = 0;
    loop {
        let page = f.query(&q).unwrap();
        pages += 1;
        assert!(pages < 10_000, "paging never ends");
        out.extend(
            page.lines
                .iter()
                .map(|l| (l.position, l.text_lossy().into_owned())),
        );
        match page.next_cursor {
            Some(c) => q = q.cursor(c),
            None => return (out, pages),
        }
    }
}

#[test]
fn paging_forward_returns_every_line_once_in_order() {
    let (f, members) = three_nodes();
    let want = expected(&members);
    assert_eq!(want.len(), 3 * 2 * 120);
    for limit in [1, 7, 100, 5000] {
        let (got, pages) = page_through(&f, Query::new(StreamSelector::default()).limit(limit));
        assert_eq!(got, want, "limit {limit}");
        assert!(pages >= want.len() / limit, "limit {limit}: {pages} pages");
    }
}

#[test]
fn paging_backward_returns_every_line_once_in_reverse_order() {
    let (f, members) = three_nodes();
    let mut want = expected(&members);
    want.reverse();
    for limit in [1, 13, 5000] {
        let q = Query::new(StreamSelector::default())
            .limit(limit)
            .direction(Direction::Backward);
        assert_eq!(page_through(&f, q).0, want, "limit {limit}");
    }
}

#[test]
fn a_range_and_a_filter_apply_to_every_member() {
    let (f, members) = three_nodes();
    let (from, to) = (Timestamp(T0 + 30 * S), Timestamp(T0 + 60 * S));
    let want: Vec<_> = expected(&members)
        .into_iter()
        .filter(|(p, t)| p.ts >= from && p.ts < to && t.contains("sidecar"))
        .collect();
    assert!(!want.is_empty());
    let q = Query::new(StreamSelector::default())
        .range(from, to)
        .filter(Filter::Keyword("sidecar".into()))
        .limit(9);
    assert_eq!(page_through(&f, q).0, want);
}

#[test]
fn budget_stops_bound_the_page_and_paging_still_finds_everything() {
    let (f, members) = three_nodes();
    let want = expected(&members);
    // a bytes budget of about one block per member and page: most pages stop early
    let q = Query::new(StreamSelector::default())
        .limit(1000)
        .budget(Budget {
            time: None,
            bytes: Some(200),
        });
    let first = f.query(&q).unwrap();
    let partial = first.partial.expect("the first page stops at its budget");
    assert!(first.lines.iter().all(|l| l.position.ts < partial.reached));
    let (got, pages) = page_through(&f, q);
    assert_eq!(got, want);
    assert!(pages > 3, "{pages} pages");
}

#[test]
fn one_store_behind_a_federation_answers_as_the_store_alone() {
    let (_, members) = three_nodes();
    let store = members[1].1.clone();
    let f = Federation::single(store.clone());
    let mut q = Query::new(StreamSelector::default()).limit(11);
    for _ in 0..5 {
        let (a, b) = (store.query(&q).unwrap(), f.query(&q).unwrap());
        assert_eq!(a.lines, b.lines);
        assert_eq!(a.next_cursor, b.next_cursor);
        q = q.cursor(a.next_cursor.unwrap());
    }
    assert_eq!(
        store.streams(&StreamSelector::default()),
        f.streams(&StreamSelector::default())
    );
}

#[test]
fn streams_have_distinct_global_ids_and_cursors_work_on_any_replica() {
    let (f, members) = three_nodes();
    let infos = f.streams(&StreamSelector::default());
    assert_eq!(infos.len(), 6);
    let ids: std::collections::HashSet<u64> = infos.iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 6, "{infos:?}");
    // another replica: the same stores, joined in another order
    let other = Federation::new();
    for (name, store) in members.iter().rev() {
        other.insert(name, store.clone()).unwrap();
    }
    let q = Query::new(StreamSelector::default()).limit(50);
    let page = f.query(&q).unwrap();
    let next = q.clone().cursor(page.next_cursor.unwrap());
    assert_eq!(
        f.query(&next).unwrap().lines,
        other.query(&next).unwrap().lines
    );
}

#[test]
fn names_whose_tags_collide_cannot_both_join() {
    let mut seen: HashMap<u32, String> = HashMap::new();
    let (a, b) = (0..)
        .map(|i| format!("node-{i}"))
        .find_map(|n| {
            seen.insert(Federation::tag_of(&n), n.clone())
                .map(|prev| (prev, n))
        })
        .unwrap();
    let f = Federation::new();
    f.insert(&a, Store::in_memory(small()).unwrap()).unwrap();
    let err = f
        .insert(&b, Store::in_memory(small()).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::MemberClash { .. }), "{err}");
    assert_eq!(f.names(), vec![a.clone()]);
    // the same name again replaces its store
    f.insert(&a, Store::in_memory(small()).unwrap()).unwrap();
    assert!(f.remove(&a));
    assert!(!f.remove(&b));
    assert!(f.names().is_empty());
}

#[tokio::test]
async fn a_tail_merges_the_last_lines_of_every_member_then_goes_on_live() {
    let (f, members) = three_nodes();
    let want = expected(&members);
    let mut tail = f
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: None,
            start: TailStart::Last(25),
        })
        .unwrap();
    let mut history = Vec::new();
    for _ in 0..25 {
        let l = tail.next().await.unwrap();
        history.push((l.position, l.text_lossy().into_owned()));
    }
    assert_eq!(history, want[want.len() - 25..]);
    let (name, store) = &members[2];
    let s = store
        .stream(&StreamKey::new("shop", "web-2", "app"), &Labels::new())
        .unwrap();
    s.append(Timestamp(T0 + 500 * S), LogStream::Stderr, b"late news")
        .unwrap();
    store.flush().unwrap();
    let live = tokio::time::timeout(Duration::from_secs(30), tail.next())
        .await
        .expect("the live line arrives")
        .unwrap();
    assert_eq!(live.text_lossy(), "late news");
    assert_eq!(
        live.position.stream_id >> 32,
        u64::from(Federation::tag_of(name))
    );
}

#[tokio::test]
async fn a_tail_after_a_cursor_starts_exactly_after_that_line() {
    let (f, members) = three_nodes();
    let want = expected(&members);
    let page = f
        .query(&Query::new(StreamSelector::default()).limit(100))
        .unwrap();
    let mut tail = f
        .tail(TailRequest {
            selector: StreamSelector::default(),
            filter: None,
            start: TailStart::After(page.next_cursor.unwrap()),
        })
        .unwrap();
    let first = tail.next().await.unwrap();
    assert_eq!((first.position, first.text_lossy().into_owned()), want[100]);
}

#[test]
fn a_budget_below_one_block_per_stream_still_pages_through_one_store() {
    let (_, members) = three_nodes();
    let store = members[0].1.clone();
    let want = expected(&members[..1]);
    // 200 bytes: less than one block of each of the store's two streams
    let q = Query::new(StreamSelector::default())
        .limit(1000)
        .budget(Budget {
            time: None,
            bytes: Some(200),
        });
    let (got, _) = page_through(&Federation::single(store), q);
    let tag = u64::from(Federation::tag_of(&members[0].0)) << 32;
    let want: Vec<_> = want
        .into_iter()
        .map(|(mut p, t)| {
            p.stream_id &= !tag;
            (p, t)
        })
        .collect();
    assert_eq!(got, want);
}
