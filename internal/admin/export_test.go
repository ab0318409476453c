package admin

// For the tests of package admin_test.
var StoreDeadLetter = storeDeadLetter
