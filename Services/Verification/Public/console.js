// Konsol verifikasi DLH: antrean tinjauan, detail item yang diklaim, keputusan. Tanpa pustaka, tanpa build.
"use strict";

const NAMA_CEK = {
  DUPLICATE_EVIDENCE: "Foto sudah pernah dipakai",
  NEAR_DUPLICATE_EVIDENCE: "Foto mirip foto lama",
  CAPTURE_OUTSIDE_WINDOW: "Waktu pengambilan foto",
  NO_CAPTURE_METADATA: "Data pengambilan foto (EXIF)",
  OUTSIDE_GEOFENCE: "Lokasi (geofence)",
  DAILY_CAP: "Batas harian/mingguan",
  FUTURE_DATE: "Tanggal kegiatan",
  IMPLAUSIBLE_QUANTITY: "Jumlah wajar",
  EARNING_BANNED: "Larangan perolehan poin",
  REVIEWER_REJECTED: "Ditolak verifikator",
};
const HASIL = { pass: "Lolos", flag: "Temuan", skipped: "Tidak diperiksa" };
const PEMICU = { checks: "Temuan otomatis", audit_sample: "Sampel audit", appeal: "Banding", second_review: "Persetujuan kedua" };
const TEMPAT = { office: "Kantor", home: "Rumah" };

const $ = (id) => document.getElementById(id);
// A sign-in link (deploy/dev up prints them) carries the token in the URL fragment, which no server sees.
if (location.hash.startsWith("#token=")) {
  sessionStorage.setItem("dlh-token", decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
}
let token = sessionStorage.getItem("dlh-token") || "";
let stateAktif = "open";
let itemAktif = null;
let leaseBerakhir = null;
const urlObjek = [];

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function pesan(text, ok) {
  const node = $("pesan");
  node.textContent = text;
  node.className = "pesan " + (ok ? "ok" : "galat");
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = body && (body.detail || body.title);
    throw new Error(detail || "Permintaan gagal (HTTP " + response.status + ").");
  }
  return body;
}

function umur(detik) {
  if (detik === null || detik === undefined) return "–";
  if (detik < 60) return detik + " dtk";
  if (detik < 3600) return Math.floor(detik / 60) + " mnt";
  if (detik < 86400) return Math.floor(detik / 3600) + " jam";
  return Math.floor(detik / 86400) + " hari";
}

function waktu(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString("id-ID", { timeZone: "Asia/Jakarta", dateStyle: "medium", timeStyle: "short" }) + " WIB";
}

function peta(lat, lon) {
  return "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=18/" + lat + "/" + lon;
}

async function muatAntrean() {
  if (!token) return;
  try {
    const data = await api("/v1/reviews?state=" + stateAktif);
    $("hitung-open").textContent = data.counts.open;
    $("hitung-claimed").textContent = data.counts.claimed;
    $("hitung-decided").textContent = data.counts.decided;
    $("tertua").textContent = umur(data.counts.oldestOpenSeconds);
    const body = $("antrian");
    body.replaceChildren();
    if (data.items.length === 0) {
      const row = el("tr");
      const cell = el("td", "Tidak ada item.");
      cell.colSpan = 7;
      row.append(cell);
      body.append(row);
    }
    for (const item of data.items) {
      const row = el("tr");
      row.dataset.id = item.id;
      row.append(el("td", waktu(item.createdAt)), el("td", umur(item.ageSeconds)),
        el("td", PEMICU[item.trigger] || item.trigger),
        el("td", item.activity + " · " + (TEMPAT[item.place] || item.place) + " · " + item.quantity),
        el("td", item.opd), el("td", item.checks.map((c) => NAMA_CEK[c] || c).join(", ") || "—"));
      const action = el("td");
      if (item.state === "open") {
        const button = el("button", "Klaim");
        button.type = "button";
        button.className = "klaim";
        button.addEventListener("click", () => klaim(item.id));
        action.append(button);
      } else if (item.state === "claimed") {
        action.append(el("small", "oleh " + item.claimedBy));
      } else {
        action.append(el("small", (item.outcome === "approved" ? "Disetujui" : "Ditolak") + " oleh " + item.decidedBy));
      }
      row.append(action);
      body.append(row);
    }
  } catch (error) {
    pesan(error.message, false);
  }
}

async function klaim(id) {
  try {
    const detail = await api("/v1/reviews/claim", { method: "POST", body: id ? JSON.stringify({ reviewId: id }) : "" });
    if (!detail) {
      pesan("Tidak ada item yang dapat Anda tinjau saat ini.", true);
      return;
    }
    await tampilkan(detail);
    pesan("Item diklaim. Periksa dan putuskan sebelum waktu klaim habis.", true);
  } catch (error) {
    pesan(error.message, false);
  }
  muatAntrean();
}

async function gambar(sha) {
  const response = await fetch("/v1/evidence/" + sha, { headers: { Authorization: "Bearer " + token } });
  if (!response.ok) throw new Error("Foto tidak dapat dimuat (HTTP " + response.status + ").");
  const url = URL.createObjectURL(await response.blob());
  urlObjek.push(url);
  return url;
}

function kartuFoto(sha, keterangan) {
  const figure = el("figure");
  const img = el("img");
  img.alt = "Foto bukti " + sha.slice(0, 12);
  img.dataset.sha = sha;
  figure.append(img, el("figcaption", keterangan));
  gambar(sha).then((url) => { img.src = url; }).catch((error) => {
    figure.append(el("small", error.message, "galat"));
  });
  return figure;
}

function ringkasBukti(check) {
  const e = check.evidence || {};
  if (check.result === "skipped") return e.reason || "";
  switch (check.code) {
    case "DUPLICATE_EVIDENCE":
      return (e.matches || []).map((m) => "dipakai pengajuan " + m.submissionId + " (NIP " + m.nip + ")").join("; ") || (e.photos + " foto baru");
    case "NEAR_DUPLICATE_EVIDENCE":
      return (e.matches || []).map((m) => "jarak " + m.distance + " dari foto pengajuan " + m.matchSubmissionId).join("; ") || ("jarak maks. " + e.maxDistance);
    case "CAPTURE_OUTSIDE_WINDOW":
      return (e.photos || []).map((p) => waktu(p.capturedAt) + " (" + p.hoursFromActivity + " jam dari kegiatan" + (p.afterSubmission ? ", setelah pengiriman" : "") + ")").join("; ");
    case "NO_CAPTURE_METADATA":
      return (e.photos || []).map((p) => "foto " + p.photo.slice(0, 8) + " tanpa " + (p.missing === "gps" ? "GPS" : "waktu ambil")).join("; ");
    case "OUTSIDE_GEOFENCE":
      return (e.positions || []).map((p) => (p.source === "device" ? "GPS perangkat " : "GPS foto ") + p.distanceMeters + " m").join("; ") + " (radius " + e.radiusMeters + " m)";
    case "DAILY_CAP":
      return "hari ini " + e.countToday + "/" + (e.dailyCap ?? "–") + ", minggu ini " + e.countThisWeek + "/" + (e.weeklyCap ?? "–");
    case "IMPLAUSIBLE_QUANTITY":
      return "jumlah " + e.quantity + " (min " + (e.minQuantity ?? "–") + ", maks " + (e.maxQuantity ?? "–") + ")";
    case "EARNING_BANNED":
      return e.bannedUntil ? "dilarang sampai " + waktu(e.bannedUntil) : "";
    case "FUTURE_DATE":
      return e.activityAt ? waktu(e.activityAt) + " setelah pengiriman " + waktu(e.submittedAt) : "";
    default:
      return "";
  }
}

async function tampilkan(detail) {
  for (const url of urlObjek.splice(0)) URL.revokeObjectURL(url);
  itemAktif = detail.item;
  leaseBerakhir = detail.item.leaseExpiresAt ? new Date(detail.item.leaseExpiresAt) : null;
  const s = detail.submission;
  $("detail").hidden = false;
  $("detail-id").textContent = s.id.toLowerCase();
  const ringkasan = $("ringkasan");
  ringkasan.replaceChildren();
  const fakta = [
    ["ASN", (s.name || "") + " (" + s.nip + ")"], ["OPD", s.opd], ["Kegiatan", s.activity],
    ["Tempat", TEMPAT[s.place] || s.place], ["Jumlah", s.quantity + " " + (s.unit || "")],
    ["Waktu kegiatan", waktu(s.activityAt)], ["Dikirim", waktu(s.submittedAt)],
    ["Nilai poin", s.points ?? "–"], ["Pemicu", PEMICU[detail.item.trigger] || detail.item.trigger],
    ["Persetujuan", detail.item.approvals.length + " dari " + detail.item.requiredApprovals], ["Catatan ASN", s.note || "—"],
  ];
  for (const [label, value] of fakta) {
    const div = el("div");
    div.append(el("span", label + ": ", "abu"), el("b", value));
    ringkasan.append(div);
  }
  const banding = $("banding");
  banding.hidden = !detail.appealStatement;
  banding.textContent = detail.appealStatement ? "Pernyataan banding: " + detail.appealStatement : "";

  const foto = $("foto");
  foto.replaceChildren(...s.evidence.map((e, i) => kartuFoto(e.sha256, "Foto " + (i + 1) + " · " + e.sha256.slice(0, 12))));

  const near = detail.checks.find((c) => c.code === "NEAR_DUPLICATE_EVIDENCE" && c.result === "flag");
  const dupe = detail.checks.find((c) => c.code === "DUPLICATE_EVIDENCE" && c.result === "flag");
  const mirip = $("mirip");
  mirip.replaceChildren();
  for (const m of (near && near.evidence.matches) || []) {
    mirip.append(kartuFoto(m.matchSha256, "Jarak " + m.distance + " · pengajuan " + m.matchSubmissionId.slice(0, 8) + " (NIP " + m.matchNip + ")"));
  }
  for (const m of (dupe && dupe.evidence.matches) || []) {
    mirip.append(kartuFoto(m.sha256, "Sama persis · pengajuan " + m.submissionId.slice(0, 8) + " (NIP " + m.nip + ")"));
  }
  $("mirip-bagian").hidden = mirip.children.length === 0;

  const exif = $("exif");
  exif.replaceChildren();
  s.evidence.forEach((e, i) => {
    const c = e.capture || {};
    const row = el("tr");
    const gps = el("td");
    if (c.latitude !== undefined && c.latitude !== null) {
      const link = el("a", c.latitude.toFixed(5) + ", " + c.longitude.toFixed(5));
      link.href = peta(c.latitude, c.longitude);
      link.target = "_blank";
      link.rel = "noopener";
      gps.append(link);
    } else {
      gps.textContent = "—";
    }
    row.append(el("td", "Foto " + (i + 1)),
      el("td", c.capturedAt ? waktu(c.capturedAt) + (c.capturedAtOffset ? " (" + c.capturedAtOffset + ")" : "") : "— tidak ada"),
      el("td", [c.cameraMake, c.cameraModel].filter(Boolean).join(" ") || "—"), el("td", c.software || "—"), gps);
    exif.append(row);
  });
  const lokasi = $("lokasi");
  lokasi.replaceChildren();
  if (detail.registeredLocation) {
    const r = detail.registeredLocation;
    const link = el("a", (r.label || "Lokasi terdaftar (" + (TEMPAT[r.place] || r.place) + ")") + " di peta");
    link.href = peta(r.latitude, r.longitude);
    link.target = "_blank";
    link.rel = "noopener";
    lokasi.append(el("span", "Lokasi terdaftar: "), link);
  } else {
    lokasi.append(el("span", "Lokasi terdaftar untuk tempat ini belum ada di roster."));
  }
  if (s.deviceLocation) {
    const link = el("a", "GPS perangkat (data klien)");
    link.href = peta(s.deviceLocation.latitude, s.deviceLocation.longitude);
    link.target = "_blank";
    link.rel = "noopener";
    lokasi.append(el("span", " · "), link);
  }

  const cek = $("cek");
  cek.replaceChildren();
  for (const check of detail.checks) {
    const row = el("tr");
    row.dataset.code = check.code;
    row.dataset.result = check.result;
    const detailBukti = el("td");
    detailBukti.append(el("span", ringkasBukti(check)));
    row.append(el("td", NAMA_CEK[check.code] || check.code), el("td", HASIL[check.result] || check.result, "hasil-" + check.result), detailBukti);
    cek.append(row);
  }
  $("alasan").value = "";
  $("catatan").value = "";
  for (const id of ["setujui", "tolak", "lepas"]) $(id).disabled = false;
  hitungMundur();
}

function hitungMundur() {
  if (!leaseBerakhir) {
    $("sisa-waktu").textContent = "–";
    return;
  }
  const sisa = Math.max(0, Math.round((leaseBerakhir - Date.now()) / 1000));
  $("sisa-waktu").textContent = Math.floor(sisa / 60) + ":" + String(sisa % 60).padStart(2, "0");
  if (sisa === 0) {
    $("sisa-waktu").textContent = "habis — klaim ulang";
    for (const id of ["setujui", "tolak"]) $(id).disabled = true;
  }
}
setInterval(hitungMundur, 1000);

async function putuskan(decision) {
  if (!itemAktif) return;
  const reasonCode = $("alasan").value;
  if (decision === "reject" && !reasonCode) {
    pesan("Pilih kode alasan untuk menolak.", false);
    return;
  }
  for (const id of ["setujui", "tolak", "lepas"]) $(id).disabled = true;
  try {
    const result = await api("/v1/reviews/" + itemAktif.id + "/decision", {
      method: "POST", body: JSON.stringify({ decision, reasonCode: reasonCode || null, note: $("catatan").value }),
    });
    const teks = {
      approved: "Pengajuan disetujui.", rejected: "Pengajuan ditolak.", revoked: "Persetujuan dicabut (audit).",
      confirmed: "Persetujuan dikonfirmasi (audit).", awaiting_second_approval: "Persetujuan pertama tercatat; menunggu verifikator kedua.",
    };
    pesan(teks[result.outcome] || result.outcome, true);
    $("detail").hidden = true;
    itemAktif = null;
    leaseBerakhir = null;
  } catch (error) {
    pesan(error.message, false);
    for (const id of ["setujui", "tolak", "lepas"]) $(id).disabled = false;
  }
  muatAntrean();
}

async function lepaskan() {
  if (!itemAktif) return;
  try {
    await api("/v1/reviews/" + itemAktif.id + "/release", { method: "POST" });
    pesan("Item dikembalikan ke antrean.", true);
    $("detail").hidden = true;
    itemAktif = null;
  } catch (error) {
    pesan(error.message, false);
  }
  muatAntrean();
}

function masuk() {
  token = $("token").value.trim();
  sessionStorage.setItem("dlh-token", token);
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    $("siapa").textContent = (payload.name || "") + " · " + (payload.opd || "") + " · " + payload.sub;
  } catch (error) {
    $("siapa").textContent = "";
  }
  muatAntrean();
}

$("simpan-token").addEventListener("click", masuk);
$("token").addEventListener("keydown", (event) => { if (event.key === "Enter") masuk(); });
$("klaim-berikutnya").addEventListener("click", () => klaim(null));
$("setujui").addEventListener("click", () => putuskan("approve"));
$("tolak").addEventListener("click", () => putuskan("reject"));
$("lepas").addEventListener("click", lepaskan);
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    stateAktif = tab.dataset.state;
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("aktif", other === tab);
    muatAntrean();
  });
}
if (token) {
  $("token").value = token;
  masuk();
}
setInterval(muatAntrean, 15000);
