// GetFolder, ConvertId and ResolveNames: what exchangelib and DavMail need
// around their free/busy paths (ews.md 5.1, 5.2, 5.4).
#include <algorithm>
#include <array>
#include <cstdio>

#include "rt/base64.hpp"
#include "sim/operations.hpp"

namespace calgate::sim {

namespace {

// --- Ids: base64 of "SIMF|<mailbox>|<folder>" (folders) or "SIMI|<mailbox>|<n>" (items, fixture.cpp).
// EntryId/HexEntryId put four zero bytes in front (a flags field, as MAPI entry ids have).

std::string folder_payload(std::string_view mailbox, std::string_view folder) {
  return "SIMF|" + lower(mailbox) + "|" + std::string(folder);
}

struct decoded_id {
  char kind = 0;  // 'F' folder, 'I' item
  std::string mailbox, rest;
};

std::optional<decoded_id> decode_payload(std::string_view raw) {
  if (raw.size() < 7 || (raw.substr(0, 5) != "SIMF|" && raw.substr(0, 5) != "SIMI|")) return std::nullopt;
  const std::size_t bar = raw.find('|', 5);
  if (bar == std::string_view::npos || bar == 5 || bar + 1 == raw.size()) return std::nullopt;
  decoded_id d;
  d.kind = raw[3];
  d.mailbox = std::string(raw.substr(5, bar - 5));
  d.rest = std::string(raw.substr(bar + 1));
  return d;
}

std::string hex_upper(std::string_view bytes) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int hi = nib(s[i]), lo = nib(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

const std::string entry_prefix(4, '\0');

std::optional<std::string> decode_id(std::string_view id, std::string_view format) {
  std::optional<std::string> raw;
  if (format == "HexEntryId") {
    raw = unhex(id);
  } else {
    auto b = rt::base64_decode(id);
    if (b) raw = std::move(*b);
  }
  if (!raw) return std::nullopt;
  if (format == "EntryId" || format == "HexEntryId") {
    if (!raw->starts_with(entry_prefix)) return std::nullopt;
    raw->erase(0, entry_prefix.size());
  }
  return raw;
}

std::string encode_id(std::string_view payload, std::string_view format) {
  if (format == "EntryId") return rt::base64_encode(entry_prefix + std::string(payload));
  if (format == "HexEntryId") return hex_upper(entry_prefix + std::string(payload));
  return rt::base64_encode(payload);
}

// --- Folders

struct folder_info {
  std::string_view name;          // distinguished id
  std::string_view element;       // t:Folder, t:CalendarFolder, ...
  std::string_view folder_class;  // "" for none
  std::string_view display_name;
  int child_folders;
};

constexpr std::array<folder_info, 19> folders{{
    {"root", "t:Folder", "", "", 16},
    {"msgfolderroot", "t:Folder", "", "Top of Information Store", 12},
    {"inbox", "t:Folder", "IPF.Note", "Inbox", 0},
    {"calendar", "t:CalendarFolder", "IPF.Appointment", "Calendar", 0},
    {"contacts", "t:ContactsFolder", "IPF.Contact", "Contacts", 0},
    {"sentitems", "t:Folder", "IPF.Note", "Sent Items", 0},
    {"drafts", "t:Folder", "IPF.Note", "Drafts", 0},
    {"deleteditems", "t:Folder", "IPF.Note", "Deleted Items", 0},
    {"junkemail", "t:Folder", "IPF.Note", "Junk Email", 0},
    {"outbox", "t:Folder", "IPF.Note", "Outbox", 0},
    {"tasks", "t:TasksFolder", "IPF.Task", "Tasks", 0},
    {"notes", "t:Folder", "IPF.StickyNote", "Notes", 0},
    {"journal", "t:Folder", "IPF.Journal", "Journal", 0},
    {"searchfolders", "t:Folder", "", "Finder", 0},
    {"voicemail", "t:Folder", "IPF.Note.Microsoft.Voicemail", "Voice Mail", 0},
    {"conflicts", "t:Folder", "IPF.Note", "Conflicts", 0},
    {"syncissues", "t:Folder", "IPF.Note", "Sync Issues", 3},
    {"localfailures", "t:Folder", "IPF.Note", "Local Failures", 0},
    {"serverfailures", "t:Folder", "IPF.Note", "Server Failures", 0},
}};

const folder_info* find_folder(std::string_view name) {
  for (const auto& f : folders)
    if (f.name == name) return &f;
  return nullptr;
}

// Every DistinguishedFolderIdNameType value is schema-valid; the simulator has the common ones.
bool is_distinguished_name(std::string_view n) {
  static constexpr std::string_view others[] = {
      "publicfoldersroot", "recoverableitemsroot", "recoverableitemsdeletions", "recoverableitemsversions",
      "recoverableitemspurges", "archiveroot", "archivemsgfolderroot", "archivedeleteditems", "archiveinbox",
      "recipientcache", "quickcontacts", "conversationhistory", "adminauditlogs", "todosearch", "mycontacts",
      "directory", "imcontactlist", "peopleconnect", "favorites"};
  return find_folder(n) || std::find(std::begin(others), std::end(others), n) != std::end(others);
}

struct requested_props {
  bool parent = false, folder_class = false, display_name = false, total = false, child = false, unread = false,
       rights = false;
  std::vector<const xml::element*> extended;  // t:ExtendedFieldURI elements to echo
};

requested_props props_for(const xml::element& shape) {
  requested_props p;
  const std::string_view base = t_text(shape, "BaseShape");
  if (base != "IdOnly" && base != "Default" && base != "AllProperties")
    schema_error("The 'BaseShape' element is invalid - The value '" + std::string(base) +
                 "' is invalid according to its datatype 'DefaultShapeNamesType'.");
  if (base != "IdOnly") p.display_name = p.total = p.child = p.unread = true;
  if (base == "AllProperties") p.parent = p.folder_class = p.rights = true;
  if (const xml::element* extra = shape.child(ns_t, "AdditionalProperties")) {
    for (const auto& c : extra->children) {
      if (c.is(ns_t, "ExtendedFieldURI")) {
        p.extended.push_back(&c);
        continue;
      }
      if (!c.is(ns_t, "FieldURI")) continue;
      const std::string_view f = c.attr("FieldURI");
      if (f == "folder:ParentFolderId") p.parent = true;
      else if (f == "folder:FolderClass") p.folder_class = true;
      else if (f == "folder:DisplayName") p.display_name = true;
      else if (f == "folder:TotalCount") p.total = true;
      else if (f == "folder:ChildFolderCount") p.child = true;
      else if (f == "folder:UnreadCount") p.unread = true;
      else if (f == "folder:EffectiveRights") p.rights = true;
    }
  }
  return p;
}

// The value of a MAPI property (by tag) on a folder, or nullopt if the folder does not have it.
std::optional<std::string> tag_value(unsigned tag, const folder_info& f, int total) {
  static const std::string stamp = "2031-01-01T00:00:00Z";
  switch (tag) {
    case 0x3001: return std::string(f.display_name);                  // PR_DISPLAY_NAME
    case 0x3613:                                                       // PR_CONTAINER_CLASS
      if (f.folder_class.empty()) return std::nullopt;
      return std::string(f.folder_class);
    case 0x3007: return stamp;                                         // PR_CREATION_TIME
    case 0x3008: return stamp;                                         // PR_LAST_MODIFICATION_TIME
    case 0x3602: return std::to_string(total);                         // PR_CONTENT_COUNT
    case 0x3603: return std::string("0");                              // PR_CONTENT_UNREAD
    case 0x360a: return std::string(f.child_folders > 0 ? "true" : "false");  // PR_SUBFOLDERS
    case 0x10f3: return std::string(f.display_name.empty() ? "root" : f.display_name);  // PR_URL_COMP_NAME
    case 0x670a: return stamp;                                         // PR_LOCAL_COMMIT_TIME_MAX
    case 0x6751: return std::string("1");                              // PR_ARTICLE_NUM_NEXT (DavMail uidNext)
    case 0x6752: return std::string("0");                              // PR_IMAP_LAST_ARTICLE_ID (highestUid)
    default: return std::nullopt;
  }
}

std::optional<unsigned> parse_tag(std::string_view s) {
  s = trim(s);
  unsigned v = 0;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty() || s.size() > 8) return std::nullopt;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
    if (d >= base) return std::nullopt;
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
  }
  return v;
}

void write_folder(xml::writer& w, const folder_info& f, const std::string& owner, const requested_props& p, int total,
                  const effective_access& acc) {
  const std::string change_key = rt::base64_encode("SIMCK|1");
  w.open(f.element);
  w.open("t:FolderId").attr("Id", rt::base64_encode(folder_payload(owner, f.name))).attr("ChangeKey", change_key).close();
  if (p.parent && f.name != "root") {
    const std::string_view parent = f.name == "msgfolderroot" ? "root" : "msgfolderroot";
    w.open("t:ParentFolderId").attr("Id", rt::base64_encode(folder_payload(owner, parent))).attr("ChangeKey", change_key).close();
  }
  if (p.folder_class && !f.folder_class.empty()) w.leaf("t:FolderClass", f.folder_class);
  if (p.display_name) w.leaf("t:DisplayName", f.display_name);
  if (p.total) w.leaf("t:TotalCount", std::to_string(total));
  if (p.child) w.leaf("t:ChildFolderCount", std::to_string(f.child_folders));
  for (const xml::element* uri : p.extended) {
    auto tag = uri->has_attr("PropertyTag") ? parse_tag(uri->attr("PropertyTag")) : std::nullopt;
    if (!tag) continue;  // named properties: none are set on the simulator's folders
    auto value = tag_value(*tag, f, total);
    if (!value) continue;
    w.open("t:ExtendedProperty");
    // Echo the path exactly as requested (DavMail compares the tag text).
    w.open("t:ExtendedFieldURI").attr("PropertyTag", uri->attr("PropertyTag"));
    w.attr("PropertyType", uri->has_attr("PropertyType") ? uri->attr("PropertyType") : "String").close();
    w.leaf("t:Value", *value);
    w.close();
  }
  if (p.rights) {
    const bool full = acc.owner;
    const char* t = "true";
    const char* fl = "false";
    w.open("t:EffectiveRights");
    w.leaf("t:CreateAssociated", full ? t : fl);
    w.leaf("t:CreateContents", full ? t : fl);
    w.leaf("t:CreateHierarchy", full ? t : fl);
    w.leaf("t:Delete", full ? t : fl);
    w.leaf("t:Modify", full ? t : fl);
    w.leaf("t:Read", t);
    w.leaf("t:ViewPrivateItems", full ? t : fl);
    w.close();
  }
  if (p.unread && (f.element == "t:Folder" || f.element == "t:TasksFolder")) w.leaf("t:UnreadCount", "0");
  w.close();
}

void write_error(xml::writer& w, std::string_view qname, std::string_view code, std::string_view text) {
  open_response_message(w, qname, "Error", code, text);
  w.close();
}

constexpr std::string_view access_denied_text = "Access is denied. Check credentials and try again.";

}  // namespace

std::string get_folder(const fixture& fx, const caller& who, const ews_request& r) {
  const requested_props props = props_for(require(*r.body, "FolderShape", ns_m));
  const xml::element& ids = require(*r.body, "FolderIds", ns_m);
  if (ids.children.empty()) schema_error("The element 'FolderIds' has incomplete content.");
  xml::writer w;
  open_envelope(w, fx.cfg);
  open_response(w, "m:GetFolderResponse");
  w.open("m:ResponseMessages");
  constexpr std::string_view msg = "m:GetFolderResponseMessage";
  for (const auto& id : ids.children) {
    std::string owner = who.mailbox, name;
    bool explicit_mailbox = false;
    if (id.is(ns_t, "DistinguishedFolderId")) {
      name = std::string(trim(id.attr("Id")));
      if (!is_distinguished_name(name))
        schema_error("The 'Id' attribute is invalid - The value '" + name +
                     "' is invalid according to its datatype 'DistinguishedFolderIdNameType'.");
      if (const xml::element* mb = id.child(ns_t, "Mailbox")) {
        owner = std::string(t_text(*mb, "EmailAddress"));
        explicit_mailbox = true;
      }
    } else if (id.is(ns_t, "FolderId")) {
      auto raw = decode_id(trim(id.attr("Id")), "EwsId");
      auto d = raw ? decode_payload(*raw) : std::nullopt;
      if (!d || d->kind != 'F') {
        write_error(w, msg, "ErrorInvalidIdMalformed", "Id is malformed.");
        continue;
      }
      owner = d->mailbox;
      name = d->rest;
      explicit_mailbox = true;
    } else {
      write_error(w, msg, "ErrorInvalidOperation", "The simulator only knows mailbox folders.");
      continue;
    }
    const folder_info* f = find_folder(name);
    if (!f) {
      write_error(w, msg, "ErrorFolderNotFound", "The specified folder could not be found in the store.");
      continue;
    }
    const mailbox* m = owner.empty() ? nullptr : fx.find(owner);
    effective_access acc;
    if (explicit_mailbox && m) {
      acc = access_for(*m, who);
      owner = m->address;
    } else if (explicit_mailbox && lower(owner) != lower(who.mailbox)) {
      write_error(w, msg, "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.");
      continue;
    } else {
      // The caller's own mailbox (it need not be in the fixture: a service account still has folders).
      acc.owner = true;
      acc.level = access_level::reviewer;
      if (m) owner = m->address;
    }
    if (owner.empty()) {
      write_error(w, msg, "ErrorNonExistentMailbox", "The caller has no mailbox (authentication is off).");
      continue;
    }
    // Someone else's folders: the calendar (and the roots above it) need at least
    // FreeBusyTimeAndSubjectAndLocation; everything else needs Reviewer.
    const bool calendar_path = f->name == "calendar" || f->name == "root" || f->name == "msgfolderroot";
    if (!acc.owner && (acc.level == access_level::none || acc.level == access_level::freebusy ||
                       (!calendar_path && acc.level != access_level::reviewer))) {
      write_error(w, msg, "ErrorAccessDenied", access_denied_text);
      continue;
    }
    const int total = f->name == "calendar" && m ? static_cast<int>(m->events.size()) : 0;
    open_response_message(w, msg, "Success");
    w.open("m:Folders");
    write_folder(w, *f, owner, props, total, acc);
    w.close();
    w.close();
  }
  return close_envelope(w);
}

std::string convert_id(const fixture& fx, const caller&, const ews_request& r) {
  static constexpr std::string_view formats[] = {"EwsLegacyId", "EwsId", "EntryId", "HexEntryId", "StoreId", "OwaId"};
  auto valid_format = [](std::string_view f) { return std::find(std::begin(formats), std::end(formats), f) != std::end(formats); };
  const std::string dest(trim(r.body->attr("DestinationFormat")));
  if (!valid_format(dest))
    schema_error("The 'DestinationFormat' attribute is invalid - The value '" + dest +
                 "' is invalid according to its datatype 'IdFormatType'.");
  const xml::element& sources = require(*r.body, "SourceIds", ns_m);
  if (sources.children.empty()) schema_error("The element 'SourceIds' has incomplete content.");
  xml::writer w;
  open_envelope(w, fx.cfg);
  open_response(w, "m:ConvertIdResponse");
  w.open("m:ResponseMessages");
  constexpr std::string_view msg = "m:ConvertIdResponseMessage";
  for (const auto& src : sources.children) {
    if (!src.is(ns_t, "AlternateId")) {
      write_error(w, msg, "ErrorInvalidIdMalformed", "Id is malformed.");
      continue;
    }
    const std::string_view format = trim(src.attr("Format"));
    if (!valid_format(format))
      schema_error("The 'Format' attribute is invalid - The value '" + std::string(format) +
                   "' is invalid according to its datatype 'IdFormatType'.");
    auto raw = decode_id(trim(src.attr("Id")), format);
    auto d = raw ? decode_payload(*raw) : std::nullopt;
    if (!d) {
      write_error(w, msg, "ErrorInvalidIdMalformed", "Id is malformed.");
      continue;
    }
    // The answer names the mailbox the id really belongs to, whatever Mailbox the request
    // carried (DavMail sends a dummy and takes the user's address from this).
    const mailbox* m = fx.find(d->mailbox);
    const std::string owner = m ? m->address : d->mailbox;
    open_response_message(w, msg, "Success");
    w.open("m:AlternateId")
        .attr("xsi:type", "t:AlternateIdType")
        .attr("Format", dest)
        .attr("Id", encode_id(*raw, dest))
        .attr("Mailbox", owner)
        .close();
    w.close();
  }
  return close_envelope(w);
}

std::string resolve_names(const fixture& fx, const ews_request& r) {
  if (!r.body->has_attr("ReturnFullContactData"))
    schema_error("The required attribute 'ReturnFullContactData' is missing.");
  bool full = false;  // contact data is not simulated: mailboxes only
  if (!parse_bool(r.body->attr("ReturnFullContactData"), full))
    schema_error("The 'ReturnFullContactData' attribute is not a valid xs:boolean.");
  (void)full;
  std::string entry(trim(require(*r.body, "UnresolvedEntry", ns_m).text));
  if (entry.empty()) schema_error("The 'UnresolvedEntry' element is empty.");
  if (lower(entry).starts_with("smtp:")) entry.erase(0, 5);
  const std::string q = lower(entry);

  std::vector<const mailbox*> found;
  if (const mailbox* exact = fx.find(q)) {
    found.push_back(exact);
  } else {
    auto word_prefix = [&](const std::string& text) {
      const std::string l = lower(text);
      for (std::size_t at = 0; at < l.size();) {
        if (l.compare(at, q.size(), q) == 0) return true;
        at = l.find(' ', at);
        if (at == std::string::npos) break;
        ++at;
      }
      return false;
    };
    for (const auto& m : fx.mailboxes) {
      bool hit = lower(m.address).starts_with(q) || word_prefix(m.display_name);
      for (const auto& a : m.aliases) hit = hit || lower(a).starts_with(q);
      if (hit) found.push_back(&m);
    }
    std::stable_sort(found.begin(), found.end(), [](const mailbox* a, const mailbox* b) {
      return a->display_name < b->display_name;
    });
  }
  const std::size_t total = found.size();
  if (found.size() > 100) found.resize(100);

  xml::writer w;
  open_envelope(w, fx.cfg);
  open_response(w, "m:ResolveNamesResponse");
  w.open("m:ResponseMessages");
  constexpr std::string_view msg = "m:ResolveNamesResponseMessage";
  if (found.empty()) {
    write_error(w, msg, "ErrorNameResolutionNoResults", "No results were found.");
    return close_envelope(w);
  }
  if (found.size() == 1) open_response_message(w, msg, "Success");
  else open_response_message(w, msg, "Warning", "ErrorNameResolutionMultipleResults", "Multiple results were found.");
  w.open("m:ResolutionSet")
      .attr("TotalItemsInView", std::to_string(total))
      .attr("IncludesLastItemInRange", total == found.size() ? "true" : "false");
  for (const mailbox* m : found) {
    w.open("t:Resolution").open("t:Mailbox");
    w.leaf("t:Name", m->display_name);
    w.leaf("t:EmailAddress", m->address);
    w.leaf("t:RoutingType", "SMTP");
    w.leaf("t:MailboxType", "Mailbox");
    w.close().close();
  }
  return close_envelope(w);
}

}  // namespace calgate::sim
