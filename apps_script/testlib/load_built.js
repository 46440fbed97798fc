'use strict';
/**
 * Load a `flask addon build` output with the fakes and report what it knows:
 *
 *   node testlib/load_built.js DIR   →   {"build": LEADS_SYNC_BUILD, "connect_url": …, "menu": …}
 *
 * tests/addon/test_build.py runs it: the built Code.js must load and use its baked constants.
 */
const {createWorld, plain} = require('./fakes');

const world = createWorld({addonDir: process.argv[2], spreadsheetId: 'sheet-built', sheets: {Leads: [['Name', 'Email']]}});
const ctx = world.load();
ctx.onOpen({authMode: 'LIMITED'});
ctx.showSidebar();
const report = {
  build: plain(ctx.LEADS_SYNC_BUILD),
  connect: plain(ctx.beginConnect()),
  menu: {name: world.ui.menus[0].name, items: world.ui.menus[0].items.filter((i) => !i.separator).map((i) => i.caption)},
  sidebar_title: world.ui.sidebars[0].getTitle()
};
process.stdout.write(JSON.stringify(report));
