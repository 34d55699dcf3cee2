//! The chaincode SDK: implement [`Chaincode`] and call [`start`].
