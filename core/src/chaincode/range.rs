//! RANGE_QUERY_STATE, _NEXT and _CLOSE: the handler owns the iterators
//! (ID, range, position) and asks io for one page at a time
//! ([`Output::RangeQuery`] → [`Input::RangePage`](super::Input::RangePage)).
//!
//! v0.6 `handleRangeQueryState*`: pages of at most 100, `hasMore`, an
//! iterator `ID` (a UUID in v0.6; here `<txid>-<counter>`, deterministic),
//! the iterator dropped when exhausted, closed or its tx ends.

use super::handler::Handler;
use super::txctx::{Pending, RangeIter};
use super::types::{KeyValues, Output, Reject};
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{
    ChaincodeMessage, RangeQueryState, RangeQueryStateClose, RangeQueryStateKeyValue,
    RangeQueryStateNext, RangeQueryStateResponse,
};
use prost::Message;

impl Handler {
    /// RANGE_QUERY_STATE{start, end}: open an iterator, fetch its first page.
    pub(crate) fn on_range_query(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        self.check_request(msg, Type::RangeQueryState, false)?;
        let query = match RangeQueryState::decode(msg.payload.as_slice()) {
            Ok(q) => q,
            Err(e) => return Err(self.malformed(msg, Type::RangeQueryState, e)),
        };
        if self.iterators.len() >= self.config.max_iterators {
            let text = format!(
                "Too many open range query iterators (max {})",
                self.config.max_iterators
            );
            return Err(self.reply_error(&msg.txid, &text, Reject::TooManyIterators));
        }
        self.iter_counter = self.iter_counter.wrapping_add(1);
        let id = format!("{}-{}", msg.txid, self.iter_counter);
        let iter = RangeIter {
            txid: msg.txid.clone(),
            start_key: query.start_key,
            end_key: query.end_key,
            last_key: None,
        };
        self.request_page(id.clone(), &iter);
        self.iterators.insert(id, iter);
        Ok(())
    }

    /// RANGE_QUERY_STATE_NEXT{ID}: fetch the page after the iterator's
    /// position.
    pub(crate) fn on_range_next(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        self.check_request(msg, Type::RangeQueryStateNext, false)?;
        let id = match RangeQueryStateNext::decode(msg.payload.as_slice()) {
            Ok(next) => next.id,
            Err(e) => return Err(self.malformed(msg, Type::RangeQueryStateNext, e)),
        };
        let Some(iter) = self
            .iterators
            .get(&id)
            .filter(|it| it.txid == msg.txid)
            .cloned()
        else {
            let text = format!("Range query iterator {id} not found");
            return Err(self.reply_error(&msg.txid, &text, Reject::UnknownIterator { id }));
        };
        self.request_page(id, &iter);
        Ok(())
    }

    /// RANGE_QUERY_STATE_CLOSE{ID}: drop the iterator and reply
    /// `{hasMore: false, ID}` at once (also for an unknown ID, as v0.6).
    pub(crate) fn on_range_close(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        self.check_request(msg, Type::RangeQueryStateClose, false)?;
        let id = match RangeQueryStateClose::decode(msg.payload.as_slice()) {
            Ok(close) => close.id,
            Err(e) => return Err(self.malformed(msg, Type::RangeQueryStateClose, e)),
        };
        if self
            .iterators
            .get(&id)
            .is_some_and(|it| it.txid == msg.txid)
        {
            self.iterators.remove(&id);
        }
        let response = RangeQueryStateResponse {
            keys_and_values: Vec::new(),
            has_more: false,
            id,
        };
        self.send_simple(Type::Response, &msg.txid, response.encode_to_vec());
        Ok(())
    }

    /// Marks the iterator's txid busy and asks io for the page after its
    /// position.
    fn request_page(&mut self, id: String, iter: &RangeIter) {
        self.set_pending(&iter.txid, Pending::Range { id });
        self.out.push_back(Output::RangeQuery {
            txid: iter.txid.clone(),
            start_key: iter.start_key.clone(),
            end_key: iter.end_key.clone(),
            after: iter.last_key.clone(),
            limit: self.config.range_page_size,
        });
    }

    /// io answered a page: RESPONSE{keysAndValues, hasMore, ID}, moving the
    /// iterator past the page (or dropping it when exhausted); an error is
    /// sent as ERROR and drops the iterator.
    pub(crate) fn on_range_page(
        &mut self,
        txid: &str,
        result: Result<(KeyValues, bool), String>,
    ) -> Result<(), Reject> {
        let Pending::Range { id } =
            self.take_pending(txid, "RangeQuery", |p| matches!(p, Pending::Range { .. }))?
        else {
            return Err(Reject::UnexpectedAnswer {
                txid: txid.to_owned(),
                expected: "RangeQuery",
            });
        };
        let (mut page, mut has_more) = match result {
            Ok(page) => page,
            Err(text) => {
                self.iterators.remove(&id);
                self.send_simple(Type::Error, txid, text.into_bytes());
                return Ok(());
            }
        };
        if page.len() > self.config.range_page_size {
            page.truncate(self.config.range_page_size);
            has_more = true;
        }
        self.advance_iterator(&id, page.last().map(|(k, _)| k.clone()), &mut has_more);
        let keys_and_values = page
            .into_iter()
            .map(|(key, value)| RangeQueryStateKeyValue { key, value })
            .collect();
        let response = RangeQueryStateResponse {
            keys_and_values,
            has_more,
            id,
        };
        self.send_simple(Type::Response, txid, response.encode_to_vec());
        Ok(())
    }

    /// Moves the iterator to `last`, or drops it when nothing more follows
    /// (an empty page with `has_more` counts as exhausted, so a faulty store
    /// cannot make the chaincode loop).
    fn advance_iterator(&mut self, id: &str, last: Option<String>, has_more: &mut bool) {
        match (last, *has_more) {
            (Some(last), true) => {
                if let Some(iter) = self.iterators.get_mut(id) {
                    iter.last_key = Some(last);
                }
            }
            _ => {
                *has_more = false;
                self.iterators.remove(id);
            }
        }
    }
}
