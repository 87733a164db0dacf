import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { createTransport } from "nodemailer";

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** Stable name of this message (the event that caused it), so a redelivered event rewrites one file. */
  id: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export interface MailerOptions {
  from: string;
  /** SMTP URL; empty writes each message as `<MAIL_DIR>/<id>.eml` instead (development). */
  smtpUrl: string;
  mailDir: string;
}

/**
 * nodemailer with an SMTP transport in production. In development the stream transport renders the real
 * RFC 5322 message and it is written to a `.eml` file any mail client opens; the rename makes a file appear
 * whole or not at all.
 */
export function createMailer(options: MailerOptions): Mailer {
  if (options.smtpUrl) {
    const smtp = createTransport(options.smtpUrl, { from: options.from });
    return {
      send: async ({ to, subject, text }) => void (await smtp.sendMail({ to, subject, text })),
      close: () => smtp.close(),
    };
  }
  const stream = createTransport({ streamTransport: true, buffer: true, newline: "unix" }, { from: options.from });
  let directory: Promise<unknown> | null = null;
  return {
    async send({ to, subject, text, id }) {
      const info = await stream.sendMail({ to, subject, text });
      await (directory ??= mkdir(options.mailDir, { recursive: true }).catch((error) => {
        directory = null;
        throw error;
      }));
      const file = path.join(options.mailDir, `${id}.eml`);
      await writeFile(`${file}.tmp`, info.message as Buffer);
      await rename(`${file}.tmp`, file);
    },
    close: () => stream.close(),
  };
}
