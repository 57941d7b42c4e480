/* Mock CEC: webclient/chat_client/js/cobrowseCommon.js (co-browsing helper stand-in). */
window.CEC_MOCK_COBROWSE_COMMON = (window.CEC_MOCK_COBROWSE_COMMON || 0) + 1;
