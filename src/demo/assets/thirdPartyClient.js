/* Mock CEC: thirdPartyClient.js (Token mode loader). The demo runs Authorization mode, so this
   stub only records that it was loaded. */
window.CEC_MOCK_TOKEN_LOADER = true;
