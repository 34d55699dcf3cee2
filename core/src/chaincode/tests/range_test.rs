//! RANGE_QUERY_STATE / _NEXT / _CLOSE: iterator IDs, paging, bounds.

use super::*;
use fabrik_proto::protos::{
    RangeQueryState, RangeQueryStateClose, RangeQueryStateKeyValue, RangeQueryStateNext,
    RangeQueryStateResponse,
};

fn small_pages() -> Handler {
    let mut h = registered_with(Config {
        range_page_size: 2,
        max_iterators: 1,
        ..Config::default()
    });
    assert_eq!(h.handle(T0, execute("r0", ExecKind::Ready, &[])), Ok(()));
    assert_eq!(
        h.handle(T0, execute("t1", ExecKind::Transaction, &[])),
        Ok(())
    );
    drain(&mut h);
    h
}

fn range(txid: &str, start: &str, end: &str) -> ChaincodeMessage {
    let q = RangeQueryState {
        start_key: start.into(),
        end_key: end.into(),
    };
    msg(Type::RangeQueryState, txid, &q.encode_to_vec())
}

fn response(txid: &str, kvs: &[(&str, &str)], has_more: bool, id: &str) -> Output {
    let keys_and_values = kvs
        .iter()
        .map(|(k, v)| RangeQueryStateKeyValue {
            key: (*k).into(),
            value: v.as_bytes().to_vec(),
        })
        .collect();
    let r = RangeQueryStateResponse {
        keys_and_values,
        has_more,
        id: id.into(),
    };
    send(Type::Response, txid, &r.encode_to_vec())
}

fn page(kvs: &[(&str, &str)], more: bool) -> Input {
    let kvs = kvs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
        .collect();
    Input::RangePage {
        txid: "t1".into(),
        result: Ok((kvs, more)),
    }
}

fn query_out(after: Option<&str>) -> Output {
    Output::RangeQuery {
        txid: "t1".into(),
        start_key: "a".into(),
        end_key: "z".into(),
        after: after.map(Into::into),
        limit: 2,
    }
}

#[test]
fn default_page_size_is_100() {
    assert_eq!(Config::default().range_page_size, 100);
    assert_eq!(RANGE_PAGE_SIZE, 100);
}

#[test]
fn range_query_pages_through_with_a_deterministic_id() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    assert_eq!(drain(&mut h), vec![query_out(None)]);
    assert_eq!(h.handle(T0, page(&[("a", "1"), ("b", "2")], true)), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![response("t1", &[("a", "1"), ("b", "2")], true, "t1-1")]
    );
    let next = RangeQueryStateNext { id: "t1-1".into() };
    assert_eq!(
        feed(
            &mut h,
            msg(Type::RangeQueryStateNext, "t1", &next.encode_to_vec())
        ),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![query_out(Some("b"))]);
    assert_eq!(h.handle(T0, page(&[("c", "3")], false)), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![response("t1", &[("c", "3")], false, "t1-1")]
    );
    assert_eq!(h.open_iterators(), 0);
}

#[test]
fn oversized_page_is_truncated_and_marked_has_more() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    drain(&mut h);
    assert_eq!(
        h.handle(T0, page(&[("a", "1"), ("b", "2"), ("c", "3")], false)),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![response("t1", &[("a", "1"), ("b", "2")], true, "t1-1")]
    );
    assert_eq!(h.open_iterators(), 1);
}

#[test]
fn empty_page_with_has_more_ends_the_iterator() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    drain(&mut h);
    assert_eq!(h.handle(T0, page(&[], true)), Ok(()));
    assert_eq!(drain(&mut h), vec![response("t1", &[], false, "t1-1")]);
    assert_eq!(h.open_iterators(), 0);
}

#[test]
fn close_drops_the_iterator_and_replies_at_once() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    assert_eq!(h.handle(T0, page(&[("a", "1"), ("b", "2")], true)), Ok(()));
    drain(&mut h);
    let close = RangeQueryStateClose { id: "t1-1".into() };
    assert_eq!(
        feed(
            &mut h,
            msg(Type::RangeQueryStateClose, "t1", &close.encode_to_vec())
        ),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![response("t1", &[], false, "t1-1")]);
    assert_eq!(h.open_iterators(), 0);
}

#[test]
fn next_on_an_unknown_iterator_gets_error() {
    let mut h = small_pages();
    let next = RangeQueryStateNext { id: "nope".into() };
    let r = feed(
        &mut h,
        msg(Type::RangeQueryStateNext, "t1", &next.encode_to_vec()),
    );
    assert_eq!(r, Err(Reject::UnknownIterator { id: "nope".into() }));
    assert_eq!(
        drain(&mut h),
        vec![error("t1", "Range query iterator nope not found")]
    );
}

#[test]
fn iterators_are_bounded() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    assert_eq!(h.handle(T0, page(&[("a", "1"), ("b", "2")], true)), Ok(()));
    drain(&mut h);
    assert_eq!(
        feed(&mut h, range("t1", "a", "z")),
        Err(Reject::TooManyIterators)
    );
    assert_eq!(
        drain(&mut h),
        vec![error("t1", "Too many open range query iterators (max 1)")]
    );
}

#[test]
fn store_error_is_sent_as_error_and_drops_the_iterator() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    drain(&mut h);
    let r = h.handle(
        T0,
        Input::RangePage {
            txid: "t1".into(),
            result: Err("io error".into()),
        },
    );
    assert_eq!(r, Ok(()));
    assert_eq!(drain(&mut h), vec![error("t1", "io error")]);
    assert_eq!(h.open_iterators(), 0);
}

#[test]
fn iterators_die_with_their_transaction() {
    let mut h = small_pages();
    assert_eq!(feed(&mut h, range("t1", "a", "z")), Ok(()));
    assert_eq!(h.handle(T0, page(&[("a", "1"), ("b", "2")], true)), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Completed, "t1", b"")), Ok(()));
    assert_eq!(h.open_iterators(), 0);
}

#[test]
fn range_query_in_a_query_context_is_allowed() {
    let mut h = in_query();
    assert_eq!(feed(&mut h, range("q1", "", "")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::RangeQuery {
            txid: "q1".into(),
            start_key: "".into(),
            end_key: "".into(),
            after: None,
            limit: 100
        }]
    );
}

#[test]
fn undecodable_range_payload_gets_error() {
    let mut h = small_pages();
    let r = feed(&mut h, msg(Type::RangeQueryState, "t1", b"\x0a\x09"));
    assert_eq!(
        r,
        Err(Reject::Malformed {
            what: "RANGE_QUERY_STATE payload".into()
        })
    );
    assert_eq!(drain(&mut h).len(), 1);
}
