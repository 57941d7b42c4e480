/* Mock CEC: resource.root/cobrowse/sdk/cobrowse.js (co-browsing SDK stand-in). */
window.CEC_MOCK_COBROWSE = (window.CEC_MOCK_COBROWSE || 0) + 1;
